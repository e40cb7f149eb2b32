"""Without CORTEX_REDIS_URL the gateway shares nothing and never imports redis."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    import cortex
    from cortex.config.settings import load_settings
    from cortex.simulated import SimulatedOpenAI

    keys = ("sk-embedded-key-0000001",)
    with SimulatedOpenAI("solo", keys=keys, chunk_delay=0.0) as upstream:
        settings = load_settings(
            environ={"OPENAI_API_KEYS": keys[0], "OPENAI_BASE_URL": upstream.base_url}
        )
        with cortex.start(settings) as gateway:
            answer = "".join(gateway.chat([{"role": "user", "content": "hi"}]))
    assert answer, answer
    print("redis" in sys.modules)
    """
)


def test_a_gateway_without_a_redis_url_answers_without_importing_redis():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
