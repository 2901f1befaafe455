"""Documents in: the Markdown outline, MyST directives and the dotted names in text."""
