"""Read a tempest (stestr) subunit v2 stream on stdin; print one JSON summary.

Run by the Python of the tempest virtualenv (it has `subunit` and `testtools`), never
by ostium's: `stestr last --subunit | python tempest_results.py`. Prints passed /
failed / skipped counts, failures grouped by cause (the last line of the traceback with
ids and numbers blanked, so the same bug in twenty tests is one group) and skip reasons
grouped the same way.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from typing import Any

import subunit
import testtools

_NOISE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"[0-9a-f]{32}"), "<id>"),
    (re.compile(r"req-<uuid>"), "<req>"),
    (re.compile(r"\d+(\.\d+)?"), "N"),
    (re.compile(r"\s+"), " "),
]


def _cause(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    tail = next(
        (ln for ln in reversed(lines) if re.match(r"^[\w.]+(Error|Exception|Failure|Fault)", ln)),
        lines[-1] if lines else "unknown",
    )
    for pattern, repl in _NOISE:
        tail = pattern.sub(repl, tail)
    return tail.strip()[:300]


def main() -> None:
    tests: dict[str, dict[str, Any]] = {}

    def on_test(test: dict[str, Any]) -> None:
        if test["id"].startswith(("setUpClass", "tearDownClass")) or "(" in test["id"]:
            name = test["id"]
        else:
            name = test["id"].split("[", 1)[0]
        details = test.get("details", {})
        text = ""
        for key in ("traceback", "reason"):
            if key in details:
                text = details[key].as_text()
        tests[name] = {"status": test["status"], "text": text}

    stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()

    counts: dict[str, int] = defaultdict(int)
    failures: dict[str, list[str]] = defaultdict(list)
    skips: dict[str, int] = defaultdict(int)
    for name, t in sorted(tests.items()):
        status = {"success": "passed", "fail": "failed", "skip": "skipped"}.get(
            t["status"], t["status"]
        )
        counts[status] += 1
        if status == "failed":
            failures[_cause(t["text"])].append(name)
        elif status == "skipped":
            skips[_cause(t["text"])] += 1
    summary = {
        "total": len(tests),
        **{k: counts.get(k, 0) for k in ("passed", "failed", "skipped")},
        "failures_by_cause": [
            {"cause": cause, "count": len(names), "tests": names}
            for cause, names in sorted(failures.items(), key=lambda kv: -len(kv[1]))
        ],
        "skips_by_reason": [
            {"reason": reason, "count": n}
            for reason, n in sorted(skips.items(), key=lambda kv: -kv[1])
        ],
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
