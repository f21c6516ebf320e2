"""tests/run_all_backends.py: the seconds it reports per test file."""

import importlib.util
import os
import xml.etree.ElementTree as ElementTree

SCRIPT = os.path.join(os.path.dirname(__file__), "run_all_backends.py")
spec = importlib.util.spec_from_file_location("run_all_backends", SCRIPT)
run_all_backends = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_all_backends)


def test_seconds_are_summed_per_test_file_across_classes_and_parameters():
    suite = ElementTree.fromstring(
        '<testsuite tests="5">'
        '<testcase classname="tests.docs_test" name="test_a[README.md]" time="2.5"/>'
        '<testcase classname="tests.docs_test" name="test_a[docs/x.md]" time="1.0"/>'
        '<testcase classname="tests.trainer_test.TestResume" name="test_b" time="4"/>'
        '<testcase classname="tests.trainer_test" name="test_c" time="0.5">'
        '<skipped message="not here"/></testcase>'
        '<testcase classname="conftest" name="test_d" time="0.25"/>'
        "</testsuite>"
    )
    assert run_all_backends.seconds_by_file(suite) == {
        "tests/docs_test.py": 3.5,
        "tests/trainer_test.py": 4.5,
        "conftest.py": 0.25,
    }
