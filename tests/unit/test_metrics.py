import logging

import pytest

from agent import telemetry


def test_the_empty_retrieval_alert_fires_and_resolves(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="agent.server.metrics")
    for _ in range(telemetry.ALERT_WINDOW):
        telemetry.record_retrieval(True, 0.001)
    assert "ALERT" not in caplog.text
    for _ in range(25):
        telemetry.record_retrieval(False, 0.001)
    assert caplog.text.count("ALERT engram_empty_retrieval_rate=0.21") == 1
    for _ in range(telemetry.ALERT_WINDOW):
        telemetry.record_retrieval(True, 0.001)
    assert "RESOLVED engram_empty_retrieval_rate=0.20" in caplog.text
