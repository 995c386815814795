"""JUnit XML: one test case per gate, plus one per steady-state check and one for a run that did not finish.

CI systems show each gate as a test; a failed gate is a ``<failure>``, an interrupted or broken run an
``<error>``. Times are not per gate (gates are evaluated together), so each case has ``time="0"``
and the suite carries the run's duration.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.result import RunResult, Status

__all__ = ["render"]


def render(result: RunResult) -> str:
    suite = ET.Element("testsuite", name=f"chaos.{result.scenario_name}", time=f"{result.duration_s:.3f}")
    suite.set("timestamp", result.started_at)
    classname = f"chaos.{result.scenario_name}"
    failures = errors = 0

    def case(name: str) -> ET.Element:
        return ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")

    for check in result.steady_state:
        element = case(f"steady state {check.when}: {check.probe}")
        if not check.ok:
            failures += 1
            ET.SubElement(
                element, "failure", message=check.detail, type="SteadyStateNotMet"
            ).text = check.detail
    for verdict in result.gates:
        element = case(verdict.title)
        observed = "nothing measured" if verdict.observed is None else f"{verdict.observed:.4g}"
        text = f"{verdict.detail}; expected {verdict.threshold}, observed {observed}"
        if not verdict.passed:
            failures += 1
            ET.SubElement(element, "failure", message=text, type="GateFailed").text = text
        else:
            ET.SubElement(element, "system-out").text = text
    if result.status in (Status.ABORTED, Status.ERROR):
        errors += 1
        element = case("run")
        kind = "Aborted" if result.status is Status.ABORTED else "HarnessError"
        ET.SubElement(element, "error", message=result.reason, type=kind).text = result.reason
    props = ET.Element("properties")
    for key, value in (
        ("run_id", result.run_id),
        ("seed", str(result.seed)),
        ("status", result.status.value),
    ):
        ET.SubElement(props, "property", name=key, value=value)
    suite.insert(0, props)  # properties come first, as JUnit readers expect
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
