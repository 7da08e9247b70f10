"""The README's recipes, run as a reader would run them (copied out of README.md, not retyped here)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from relay_local.dev.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
RELAY = Path(sys.executable).with_name("relay")

pytestmark = pytest.mark.integration


def readme_blocks(section: str) -> dict[str, list[str]]:
    """The fenced code blocks of one README section ("### Signing requests"), by language."""
    level = len(section.split(" ", 1)[0])
    lines = (ROOT / "README.md").read_text().splitlines()
    blocks: dict[str, list[str]] = {}
    fence: str | None = None
    code: list[str] = []
    indent = 0
    for line in lines[lines.index(section) + 1 :]:
        if fence is None and line.startswith("#") and len(line.split(" ", 1)[0]) <= level and set(line.split(" ", 1)[0]) == {"#"}:
            break  # the next section of the same or a higher level
        if line.lstrip().startswith("```"):
            if fence is None:  # fences may be indented (a block inside a list item)
                fence, code, indent = line.strip()[3:], [], len(line) - len(line.lstrip())
            else:
                blocks.setdefault(fence, []).append("\n".join(code) + "\n")
                fence = None
        elif fence is not None:
            code.append(line[indent:])
    return blocks


@pytest.fixture(scope="module")
def relay_serve(relay_serve_output) -> dict[str, str]:
    """The environment `relay serve`'s `export` lines give a shell."""
    return relay_serve_output[0]


@pytest.fixture(scope="module")
def relay_serve_output(tmp_path_factory) -> Iterator[tuple[dict[str, str], list[str]]]:
    """`relay serve` in a process of its own: the environment its `export` lines give a shell, and
    every line it printed until it was ready."""
    proc = subprocess.Popen(
        [str(RELAY), "serve", "--port", str(free_port())],
        cwd=tmp_path_factory.mktemp("serve"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    exports: dict[str, str] = {}
    printed: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            printed.append(line.rstrip("\n"))
            if line.startswith("export "):
                name, value = line[len("export ") :].strip().split("=", 1)
                exports[name] = value
            if line.startswith("# sign and send a push"):
                break
        assert {"RELAY_URL", "RELAY_SIGNING_SECRET"} <= set(exports), exports
        yield {**os.environ, **exports}, printed
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def run_python(recipe: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", recipe], env=env, capture_output=True, text=True, timeout=60, check=False)


def run_curl(recipe: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The recipe in bash, with curl printing the HTTP status on a last line of its own."""
    wrapped = "curl() { command curl -w '\\nHTTP %{http_code}\\n' \"$@\"; }\n" + recipe
    return subprocess.run(["bash", "-euo", "pipefail", "-c", wrapped], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_given_relay_serve_when_the_readme_python_and_curl_recipes_run_one_after_the_other_then_both_are_accepted(relay_serve):
    # Given the two recipes of "Signing requests", exactly as written
    blocks = readme_blocks("### Signing requests")
    [python_recipe] = blocks["python"]
    [curl_recipe] = [b for b in blocks["sh"] if "curl" in b]
    # When a reader runs the Python one, then the curl one, in a shell where `relay serve`'s exports are set
    python = run_python(python_recipe, relay_serve)
    curl = run_curl(curl_recipe, relay_serve)
    # Then each push is accepted (the signature is right, and the two do not share an Idempotency-Key)
    assert python.returncode == 0 and python.stdout.startswith("202 "), python.stdout + python.stderr
    assert curl.returncode == 0 and curl.stdout.strip().splitlines()[-1] == "HTTP 202", curl.stdout + curl.stderr
    # and the push reads back through both GET recipes of "Reading a push", signed over its id
    push_id = json.loads(python.stdout.split(" ", 1)[1])["id"]
    reading = readme_blocks("### Reading a push (signed GET)")
    [get_python] = reading["python"]
    [get_curl] = reading["sh"]
    env = {**relay_serve, "PUSH_ID": push_id}
    got = run_python(get_python, env)
    assert got.returncode == 0 and got.stdout.startswith("200 "), got.stdout + got.stderr
    assert json.loads(got.stdout.split(" ", 1)[1])["id"] == push_id
    got = run_curl(get_curl, env)
    assert got.returncode == 0 and got.stdout.strip().splitlines()[-1] == "HTTP 200", got.stdout + got.stderr
    assert json.loads(got.stdout.strip().splitlines()[0])["id"] == push_id


def printed_command(lines: list[str], prefix: str) -> str:
    """The command `relay serve` printed after `# <prefix>: `."""
    [line] = [line for line in lines if line.startswith(f"# {prefix}: ")]
    return line.split(": ", 1)[1]


def test_given_relay_serve_when_the_printed_stripe_command_runs_then_the_invoice_reaches_the_standin_as_a_presigned_url_of_the_pdf(
    relay_serve_output,
):
    # Given `relay serve` (its local media host stands in for pay.stripe.com) and the command it printed
    env, lines = relay_serve_output
    send = printed_command(lines, "send one")
    requests_url = printed_command(lines, "then see the invoice PDF reach the stand-in as a presigned S3 URL").split()[-1]
    assert send.startswith("relay sign-hook events/hook-stripe-invoice.json --curl ") and send.endswith(" | sh")
    # When a newcomer runs it from the repository's root, with the relay tool on PATH
    shell_env = {**env, "PATH": f"{RELAY.parent}{os.pathsep}{env.get('PATH', '')}"}
    done = subprocess.run(["sh", "-c", send], cwd=ROOT, env=shell_env, capture_output=True, text=True, timeout=60, check=False)
    # Then the relay answers with the push id at once
    assert done.returncode == 0, done.stdout + done.stderr
    push_id = json.loads(done.stdout)["id"]
    # And (once `relay serve`'s pollers have run) the stand-in gets a presigned URL of hook-media/<push id>/…
    urls: list[str] = []
    with httpx.Client(timeout=10) as http:
        for _ in range(120):  # a bound, not an assertion on time: the pollers run in the background
            bodies = [r.get("body") or {} for r in http.get(requests_url).json()]
            urls = [b.get("globalmedia") for b in bodies if f"/hook-media/{push_id}/" in (b.get("globalmedia") or "")]
            if urls:
                break
            time.sleep(0.5)
        assert len(urls) == 1, f"the stand-in got no hook-media/{push_id}/ URL: {bodies}"
        assert "X-Amz-Signature=" in urls[0]
        # whose bytes are the invoice PDF the event's invoice_pdf URL named
        got = http.get(urls[0])
    assert got.status_code == 200 and got.content == (ROOT / "samples" / "media" / "invoice.pdf").read_bytes()


CAPTION = "Olá Ana, here is your photo 📸"


def captions(relay) -> list[str]:
    """Each recipient's caption as the vendor reads it: its own `message`, else the `globalmessage`."""
    [request] = relay.api.requests
    return [d.get("message") or request.body.get("globalmessage") for d in request.body["data"]]


def test_given_boto3_when_a_caption_is_not_ascii_then_it_refuses_it_as_the_readme_says(relay):
    from botocore.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="(?i)ascii"):
        relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700900123/photo.jpg", Body=b"x", Metadata={"message": CAPTION})


def test_given_the_readme_aws_cli_command_then_its_shell_encoding_makes_a_caption_that_arrives_decoded(relay, sample, tmp_path):
    # Given the README's `aws s3 cp … --metadata …` command, run by bash with `aws` standing in for the
    # CLI (not installed here): it prints the arguments the real CLI would get
    [command] = [b for b in readme_blocks("### Per-recipient files: `outbox/<number>/<file name>`")["sh"] if "aws s3 cp" in b]
    shell = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "aws() { printf '%s\\0' \"$@\"; }\n" + command],
        env={**os.environ, "MEDIA_BUCKET": relay.bucket},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    args = shell.stdout.split("\0")[:-1]
    assert args[:4] == ["s3", "cp", "photo.jpg", f"s3://{relay.bucket}/outbox/447700900123/photo.jpg"]
    metadata = json.loads(args[args.index("--metadata") + 1])
    # When that upload happens with that metadata (what the CLI sends: plain ASCII user metadata)
    relay.client("s3").put_object(Bucket=relay.bucket, Key="outbox/447700900123/photo.jpg", Body=sample("photo.jpg"), Metadata=metadata)
    assert relay.run_until_idle(timeout=60)
    # Then the vendor gets the caption as written, not its encoding
    assert captions(relay) == [CAPTION]


def test_given_the_readme_boto3_recipe_when_it_runs_then_the_caption_arrives_decoded(relay, sample, tmp_path, monkeypatch):
    # Given the README's boto3 recipe, run as written in a directory holding photo.jpg
    [recipe] = readme_blocks("### Per-recipient files: `outbox/<number>/<file name>`")["python"]
    (tmp_path / "photo.jpg").write_bytes(sample("photo.jpg"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDIA_BUCKET", relay.bucket)
    # When
    exec(compile(recipe, "README.md", "exec"), {})  # noqa: S102 - the README's own code
    assert relay.run_until_idle(timeout=60)
    # Then
    assert captions(relay) == [CAPTION]
