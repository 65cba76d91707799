"""`python -m auditor` is the same as the `vpc-audit` command."""

from auditor.cli import main

main()
