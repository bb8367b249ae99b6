"""The git front doors of infill: the pre-commit hook, its installer, and diff mode's data.

Nothing here is imported by ``import infill``; the CLI imports these modules when a git
command runs. Git itself is driven through its command line (``repo.py``).
"""
