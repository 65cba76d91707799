"""vpc-audit: audit AWS VPC networking across accounts and regions."""

__version__ = "0.1.0"
