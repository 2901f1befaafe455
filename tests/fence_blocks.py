"""Markdown code blocks by CommonMark's fence rules, shared by the tests of the code check
(test_check_code.py) and the citation check (test_citations.py): each block closes where
CommonMark says, so what follows it is read as prose (a citation judged, a fence checked)."""

FENCE = "```"

FENCE_BLOCKS = [
    ("four-backticks", f"`{FENCE}python\nimport scvi\nNOTE = '''\n{FENCE}\n'''\n`{FENCE}"),
    ("tildes", f"~~~python\nNOTE = '''\n{FENCE}python\n'''\n~~~"),
    ("tildes-hold-markdown", f"~~~markdown\n{FENCE}python\ndef f(:\n{FENCE}\n~~~"),
    ("longer-closer", f"{FENCE}python\nx = 1\n`{FENCE}`"),
    ("indented-4-is-code", f"{FENCE}python\nNOTE = '''\n    {FENCE}\n'''\n{FENCE}"),
    ("list-item", f"1. Set it:\n\n   {FENCE}python\n   x = 1\n   {FENCE}"),
    ("list-item-first-line", f"- {FENCE}python\n  x = 1\n  {FENCE}"),
    ("inline-span", f"{FENCE}SCVI{FENCE} is a code span, not a fence."),
]
"""``(id, block)``: a four-backtick block holding a three-backtick line, tilde blocks, a
closer longer than its opener, a four-space line inside (code, not a closer), fences in list
items, and a line starting with a triple-backtick code span (no fence)."""
