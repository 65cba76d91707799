"""Remediation commands: the AWS CLI commands a finding's fix is, where AWS has a precise one.

Each is one string of two lines: a comment naming the account and region the command must run
in, then the command, quoted for POSIX shells, so that it can be pasted as it is. vpc-audit
never runs them (it is read-only). Where AWS takes a list, `group_commands` merges the
commands of several findings into one (one gateway endpoint per VPC and service, naming all
its tables), so that running every finding's commands does what one fix would.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Iterable, Sequence
from functools import cache
from typing import NamedTuple

from auditor.model import Finding
from auditor.net import Network

# An account id or region is written as it is in the comment line only when it is plainly one:
# anything else (a hostile snapshot) is written as a JSON string, escapes and all, so that it
# can never end the comment line.
PLAIN = re.compile(r"[A-Za-z0-9_.-]+")
QUOTING = re.compile(r"['\"\\]")
# The characters shlex.quote leaves unquoted: a command made only of such words (the usual
# case) is written as it is, found by one search instead of quoting word by word.
UNQUOTED = re.compile(r"[\w@%+=:,./-]*", re.ASCII)


class Command(NamedTuple):
    """`aws <service> <operation> <args…> --region <region>`, after the `comment` line that
    names the account and region it must run in. (A named tuple: audits make tens of thousands.)"""

    comment: str
    region: str
    operation: str
    args: tuple[str, ...]
    service: str = "ec2"

    def text(self) -> str:
        return command_text(self.comment, self.region, self.operation, self.args, self.service)

    @classmethod
    def parse(cls, text: str) -> Command | None:
        """A command as `text` wrote it; None for anything else."""
        comment, _, line = text.partition("\n")
        # shlex.join quoted nothing in a line without quotes or escapes: a plain split is the
        # same, and tens of thousands of times faster at 10k VPCs' worth of commands.
        argv = shlex.split(line) if QUOTING.search(line) else line.split()
        if len(argv) < 5 or argv[0] != "aws" or argv[-2] != "--region":
            return None
        return cls(comment, argv[-1], argv[2], tuple(argv[3:-2]), argv[1])


def plain(value: str) -> str:
    return value if PLAIN.fullmatch(value) else json.dumps(value)


@cache  # an audit has few account-regions and tens of thousands of commands
def account_comment(account_id: str, region: str) -> str:
    return f"# in account {plain(account_id)} ({plain(region)})"


def command_text(
    comment: str, region: str, operation: str, args: Sequence[str], service: str = "ec2"
) -> str:
    """A Command's text (see Command)."""
    argv = ["aws", service, operation, *args, "--region", region]
    if "" in argv or not UNQUOTED.fullmatch("/".join(argv)):
        argv = [shlex.quote(word) for word in argv]
    return f"{comment}\n{' '.join(argv)}"


def ec2(account_id: str, region: str, operation: str, *args: str) -> str:
    """One EC2 command as a finding carries it."""
    return command_text(account_comment(account_id, region), region, operation, args)


def cidr_option(net: Network | str) -> str:
    """create-route's destination option for an IPv4 or IPv6 range."""
    ipv6 = ":" in net if isinstance(net, str) else net.version == 6
    return "--destination-ipv6-cidr-block" if ipv6 else "--destination-cidr-block"


# --- grouping: one command where AWS takes a list ---

# The operations grouped, as they appear in a command's text (a cheap test before parsing).
GROUPED = re.compile(" (?:create|modify)-vpc-endpoint ")
CREATE_GATEWAY = ("--vpc-endpoint-type", "--vpc-id", "--service-name", "--route-table-ids")
ADD_TABLES = ("--vpc-endpoint-id", "--add-route-table-ids")


def options(args: Sequence[str]) -> dict[str, list[str]]:
    """`--name value…` pairs, in order; values up to the next option."""
    found: dict[str, list[str]] = {}
    name = ""
    for arg in args:
        if arg.startswith("--"):
            name = arg
            found[name] = []
        elif name:
            found[name].append(arg)
    return found


def table_list(text: str) -> tuple[Command, tuple[str, ...], str, list[str]] | None:
    """(command, group key, list option, tables) of a gateway endpoint command that names
    route tables and nothing else that could differ; None for any other command."""
    command = Command.parse(text) if GROUPED.search(text) else None
    if command is None:
        return None
    opts = options(command.args)
    if command.operation == "create-vpc-endpoint" and tuple(opts) == CREATE_GATEWAY:
        kind = opts["--vpc-endpoint-type"]
        vpc, service = opts["--vpc-id"], opts["--service-name"]
        if kind == ["Gateway"] and len(vpc) == len(service) == 1:
            key: tuple[str, ...] = (command.comment, command.region, "create", vpc[0], service[0])
            return command, key, "--route-table-ids", opts["--route-table-ids"]
    if command.operation == "modify-vpc-endpoint" and tuple(opts) == ADD_TABLES:
        endpoint = opts["--vpc-endpoint-id"]
        if len(endpoint) == 1:
            return (
                command,
                (command.comment, command.region, "modify", endpoint[0]),
                "--add-route-table-ids",
                opts["--add-route-table-ids"],
            )
    return None


def group_commands(findings: Iterable[Finding]) -> list[Finding]:
    """The findings, each gateway endpoint command replaced by the one command for its VPC
    and service (or endpoint) that names the route tables of every finding asking for it."""
    findings = list(findings)
    tables: dict[tuple[str, ...], dict[str, None]] = {}
    parsed = {}  # each command's text parsed once
    for finding in findings:
        for text in finding.remediation_commands:
            if text not in parsed:
                parsed[text] = listed = table_list(text)
                if listed:
                    tables.setdefault(listed[1], {}).update(dict.fromkeys(listed[3]))
    if not tables:
        return findings
    by_key: dict[tuple[str, ...], str] = {}  # one merged text per VPC and service (or endpoint)
    merged_of = {
        text: (by_key.get(listed[1]) or by_key.setdefault(listed[1], merge(listed, tables)))
        if listed
        else text
        for text, listed in parsed.items()
    }
    out = []
    for finding in findings:
        if finding.remediation_commands:
            merged = [merged_of[text] for text in finding.remediation_commands]
            if merged != finding.remediation_commands:
                finding = copy.copy(finding)  # a shallow copy: the input findings stay as they were
                finding.remediation_commands = list(dict.fromkeys(merged))
        out.append(finding)
    return out


def merge(
    listed: tuple[Command, tuple[str, ...], str, list[str]],
    tables: dict[tuple[str, ...], dict[str, None]],
) -> str:
    command, key, option, _ = listed
    args = list(command.args)
    start = args.index(option) + 1
    args[start:] = sorted(tables[key])
    return command._replace(args=tuple(args)).text()
