"""Format numbers, the regenerate command and the posting slots of the shipped indexes, as
plain constants: what the agent's one call needs of :mod:`.schema` without importing
``typing`` and ``enum`` (about 9 ms of a 90 ms process). :mod:`.schema` re-exports them and
holds the contracts themselves (``Slot`` there is an IntEnum of these values).

Standard library only (nothing imported); runs on Python >= 3.10.
"""

INDEX_FORMAT = 1
"""``format`` of ``index.json``."""
SEARCH_INDEX_FORMAT = 1
"""``format`` of ``search_index.json``."""
MESSAGES_FORMAT = 1
"""``format`` of ``messages.json`` (written by :mod:`scvi_skill.build.source.messages`, read by
:mod:`scvi_skill.runtime.messages`)."""
MESSAGE_FIELDS = ("path", "line", "kind", "exception", "function", "condition", "template")
"""The fields of a ``messages.json`` site, in order (:class:`.schema.MessageRow` documents them;
:mod:`.messages` reads rows as a plain ``namedtuple`` of these names)."""
REGENERATE = "python scripts/refresh_maps.py --tree PATH"
"""The command that regenerates both files (shown in their ``_generated`` notice and in
every missing/stale index error)."""

SLOT_SECTION, SLOT_SOURCE, SLOT_DOC, SLOT_CARD, SLOT_PASSAGE, SLOT_DEF = 0, 1, 2, 3, 4, 5
"""Positions in ``terms[term]`` of ``search_index.json``: which kind of unit each posting
list scores. A reader of an index built before a slot existed finds the row shorter: no
postings of that kind."""
