"""Machine facts, tool versions, and the rendering of sections as console text and Markdown."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
import zlib
from datetime import datetime
from pathlib import Path

import confluent_kafka

from benchmarks.common import Section, Table, human

ROOT = Path(__file__).resolve().parents[2]


def _out(args: list[str]) -> str:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (proc.stdout + proc.stderr).strip()


def _deb(package: str) -> str:
    version = _out(["dpkg-query", "-W", "-f=${Version}", package])
    return version if version and "no packages" not in version.lower() else "not installed"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        ticks[int(stat.parent.name)] = (name, int(fields[11]) + int(fields[12]))
    return ticks


def busy_processes(sample: float = 2.0, limit: int = 6) -> list[str]:
    """Processes of others using >= 5% of a CPU over a short sample (this one excluded)."""
    before = _cpu_ticks()
    time.sleep(sample)
    after = _cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    usage = []
    for pid, (name, ticks) in after.items():
        if pid == os.getpid() or pid not in before:
            continue
        share = (ticks - before[pid][1]) / hz / sample
        if share >= 0.05:
            usage.append((share, name))
    usage.sort(reverse=True)
    return [f"{name} ({share:.0%})" for share, name in usage[:limit]]


def machine() -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    os_name = _out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"])
    disk = _out(["df", "-h", "--output=source,fstype,size,avail", "/tmp"]).splitlines()
    return {
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": cpu or platform.processor(),
        "memory": human(mem_kb * 1024),
        "kernel": platform.release(),
        "OS": os_name,
        "work disk (/tmp)": " ".join(disk[-1].split()) if disk else "",
    }


def versions() -> dict[str, str]:
    pom = (ROOT / "images" / "connect" / "pom.xml").read_text()
    kafka = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    java = _out(["java", "-version"]).splitlines()
    rdkafka = confluent_kafka.libversion()[0]
    client = str(getattr(confluent_kafka, "__version__", "?"))
    return {
        "Kafka (images/connect/pom.xml)": kafka.group(1) if kafka else "?",
        "Java": java[0] if java else "?",
        "Python": sys.version.split()[0],
        "confluent-kafka / librdkafka": f"{client} / {rdkafka}",
        "zlib (Python runtime)": zlib.ZLIB_RUNTIME_VERSION,
        "encfs": _deb("encfs"),
        "gocryptfs": _deb("gocryptfs"),
        "rsnapshot": _deb("rsnapshot"),
        "rsync": _deb("rsync"),
        "gzip": _deb("gzip"),
        "fuse3": _deb("fuse3"),
        "git commit": _out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


# --- console -------------------------------------------------------------------------------


def table_text(table: Table) -> str:
    widths = [len(c) for c in table.columns]
    for row in table.rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    line = "  ".join(c.ljust(w) for c, w in zip(table.columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table.rows]
    return "\n".join(out)


def section_text(section: Section) -> str:
    parts = [f"== {section.title} ({section.seconds:.0f} s)"]
    if not section.available:
        parts.append(f"not available: {section.error}")
        return "\n".join(parts)
    if section.error:
        parts.append(f"FAILED: {section.error}")
    for table in section.tables:
        parts.append(table_text(table))
    parts += [f"* {f}" for f in section.findings]
    return "\n\n".join(parts)


# --- markdown ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> str:
    lines = []
    if table.caption:
        lines += [table.caption, ""]
    lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def markdown(
    sections: list[Section],
    *,
    started: datetime,
    seconds: float,
    quick: bool,
    command: str,
    load: tuple[str, str],
    busy: dict[str, list[str]],
    notes: list[str],
) -> str:
    out = [
        "# Benchmarks",
        "",
        (
            f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min. "
            "Every number below was measured in that run; ratios compare contenders measured "
            "side by side in the same run. Benchmarks print numbers; no test asserts on wall time."
        ),
        "",
    ]
    if quick:
        out += ["**Quick mode: small sizes, for development only; not representative.**", ""]
    out += ["## Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {_cell(v)} |" for k, v in machine().items()]
    out += [f"| load average (1/5/15 min) at start / end | {load[0]} / {load[1]} |"]
    out += ["", "## Versions", "", "| | |", "|---|---|"]
    out += [f"| {k} | {_cell(v)} |" for k, v in versions().items()]
    concurrency = list(notes)
    seen = {when: procs for when, procs in busy.items() if procs}
    if seen:
        concurrency.append(
            "Other work was running on this machine during the run (processes of others using "
            "CPU, sampled over 2 s: "
            + "; ".join(f"at the {when}: {', '.join(procs)}" for when, procs in seen.items())
            + "); absolute times are therefore noisy, the side-by-side ratios less so."
        )
    else:
        concurrency.append(
            "No other process used 5% or more of a CPU at the start or at the end of the run "
            "(sampled over 2 s each); other sessions shared the machine, so brief concurrent "
            "work in between cannot be excluded."
        )
    if concurrency:
        out += ["", "## Conditions", ""] + [f"- {n}" for n in concurrency]
    summary = []
    for s in sections:
        if not s.available:
            summary.append(f"{s.title}: not available ({s.error}).")
        elif s.error:
            summary.append(f"{s.title}: failed ({s.error}).")
        else:
            summary += s.headline or s.findings
    if summary:
        out += ["", "## Summary", ""] + [f"- {f}" for f in summary]
    for section in sections:
        out += ["", f"## {section.title}", ""]
        if not section.available:
            out += [f"Not available: {section.error}", ""]
            continue
        if section.error:
            out += [f"**Failed:** {section.error}", ""]
        if section.method:
            out += ["How it was measured:", ""] + [f"- {m}" for m in section.method] + [""]
        for table in section.tables:
            out += [table_markdown(table), ""]
        if section.findings:
            out += ["Interpretation:", ""] + [f"- {f}" for f in section.findings]
        out.append(f"\n_Section run time: {section.seconds:.0f} s._")
    return "\n".join(out).rstrip() + "\n"
