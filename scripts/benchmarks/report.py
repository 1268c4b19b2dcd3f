"""Machine facts, tool versions, and the rendering of sections as console text and Markdown."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
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


def busy_processes(limit: int = 6) -> list[str]:
    """The processes using the most CPU right now, outside this benchmark's process tree."""
    mine = {os.getpid()}
    text = _out(["ps", "-eo", "pid,ppid,pcpu,comm", "--sort=-pcpu", "--no-headers"])
    found = []
    for line in text.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4:
            continue
        pid, ppid, pcpu, comm = int(parts[0]), int(parts[1]), float(parts[2]), parts[3]
        if pid in mine or ppid in mine:
            mine.add(pid)
            continue
        if pcpu >= 5.0:
            found.append(f"{comm} ({pcpu:.0f}%)")
        if len(found) >= limit:
            break
    return found


def machine() -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    os_name = _out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"])
    disk = _out(["df", "-hT", "--output=source,fstype,size,avail", "/tmp"]).splitlines()
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
    return {
        "Kafka (images/connect/pom.xml)": kafka.group(1) if kafka else "?",
        "Java": java[0] if java else "?",
        "Python": sys.version.split()[0],
        "confluent-kafka / librdkafka": f"{confluent_kafka.version()[0]} / {rdkafka}",
        "zlib (Python runtime)": zlib.ZLIB_RUNTIME_VERSION,
        "encfs": _deb("encfs"),
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
    busy: list[str],
    notes: list[str],
) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.1f} min. "
        "Every number below was measured in that run; ratios compare contenders measured "
        "side by side in the same run. Benchmarks print numbers; no test asserts on wall time.",
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
    if busy:
        concurrency.append(
            "Other work was running on this machine during the run (CPU users outside the "
            f"benchmark at its start: {', '.join(busy)}); absolute times are therefore noisy, "
            "the side-by-side ratios less so."
        )
    if concurrency:
        out += ["", "## Conditions", ""] + [f"- {n}" for n in concurrency]
    summary = [f for s in sections if s.available for f in s.findings]
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
