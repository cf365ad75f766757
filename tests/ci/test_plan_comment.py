"""The example plan workflow on a 100,000-change plan: its plan step (run with bash against
`campaignctl sandbox serve`) writes a comment body that a loopback stand-in for GitHub's comments
API, enforcing the 65,536-character limit on a comment body, accepts; the full plan goes to the
artifact the comment links (issue 20)."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from reconciler.comment import COMMENT_LIMIT, size
from reconciler.render import MARKER
from tests.ci.test_workflows import BIN, WORKFLOWS, bash, sandbox_url, steps  # noqa: F401 - sandbox_url: a fixture
from tests.drift._support import KEYS, project_yaml

LEADS = 100_000
MANIFEST = """\
contact_sources:
  - {csv: leads.csv, tags: [webinar]}
sequences:
  - {id: webinar, provider: clarky, template: tpl_01HNUR, members_where: {tags_any: [webinar]}}
"""


class CommentsStub:
    """POST /repos/o/r/issues/N/comments and PATCH /repos/o/r/issues/comments/ID, refusing a body over
    65,536 characters (counted as GitHub counts them) with GitHub's 422 "body is too long"."""

    def __init__(self) -> None:
        self.comments: dict[int, str] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._answer(None)

            def do_PATCH(self) -> None:
                self._answer(int(self.path.rsplit("/", 1)[1]))

            def _answer(self, comment_id: int | None) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["body"]
                if size(body) > COMMENT_LIMIT:
                    status, reply = 422, {"message": "Validation Failed", "errors": [{
                        "resource": "IssueComment", "code": "custom", "field": "body",
                        "message": f"body is too long (maximum is {COMMENT_LIMIT} characters)"}]}
                else:
                    comment_id = comment_id or len(stub.comments) + 1
                    stub.comments[comment_id] = body
                    status, reply = (200 if self.command == "PATCH" else 201), {"id": comment_id, "body": body}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post_comment(self, body: str) -> httpx.Response:
        """What the workflow's comment step does: update the comment that starts with the marker, or create it."""
        mine = next((cid for cid, text in self.comments.items() if text.startswith(MARKER)), None)
        if mine is not None:
            return httpx.patch(f"{self.url}/repos/o/r/issues/comments/{mine}", json={"body": body})
        return httpx.post(f"{self.url}/repos/o/r/issues/1/comments", json={"body": body})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github():
    stub = CommentsStub()
    yield stub
    stub.close()


def test_the_workflow_uploads_the_full_plan_under_the_name_the_comment_links():
    data = yaml.safe_load((WORKFLOWS / "campaignctl-plan.yml").read_text())
    assert data["env"]["PLAN_ARTIFACT"] == "campaignctl-plan-${{ github.event.pull_request.head.sha }}"
    upload = next(s for s in data["jobs"]["plan"]["steps"]
                  if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["name"] == "${{ env.PLAN_ARTIFACT }}"
    assert upload["with"]["path"].split() == ["plan.json", "plan.txt"]
    plan_step = steps("campaignctl-plan.yml")["plan"]
    assert "--text-out plan.txt" in plan_step and "$PLAN_ARTIFACT" in plan_step and "--mask-pii" in plan_step


def test_the_stub_refuses_what_github_refuses(github):
    assert github.post_comment(MARKER + "\n" + "x" * (COMMENT_LIMIT - len(MARKER) - 1)).status_code == 201
    too_long = github.post_comment(MARKER + "\n" + "😀" * (COMMENT_LIMIT // 2))
    assert too_long.status_code == 422 and "body is too long" in too_long.text


def test_the_comment_of_a_100000_change_plan_is_accepted(tmp_path: Path, sandbox_url, github):  # noqa: F811
    camp = tmp_path / "repo" / "campaigns"
    camp.mkdir(parents=True)
    (camp / "campaignctl.yaml").write_text(project_yaml(sandbox_url))
    (camp / "webinar.yaml").write_text(MANIFEST)
    rows = "".join(f"lead-{i:06d},Lead{i:06d},lead{i:06d}@example.com\n" for i in range(LEADS))
    (camp / "leads.csv").write_text("id,first_name,email\n" + rows)
    job = tmp_path / "plan-job"
    job.mkdir()
    env = {**os.environ, **KEYS, "PATH": BIN + os.pathsep + os.environ["PATH"], "CAMPAIGNS_DIR": str(camp),
           "GITHUB_OUTPUT": str(tmp_path / "github_output"), "PLAN_ARTIFACT": "campaignctl-plan-0123abcd",
           "RUN_URL": "https://github.example/o/r/actions/runs/42"}
    done = bash(steps("campaignctl-plan.yml")["plan"], job, env)
    # 100,000 new enrollments exceed max_new_memberships_per_apply: the plan step fails (exit 1) and
    # the comment step still posts the plan, refusal included.
    assert done.returncode != 0 and "exit=1" in (tmp_path / "github_output").read_text(), done.stderr
    body = (job / "plan.md").read_text(encoding="utf-8")
    assert size(body) > 20_000  # cut at the budget, not trivially short
    full = (job / "plan.txt").read_text(encoding="utf-8")
    assert github.post_comment(MARKER + "\n" + full).status_code == 422  # what an unbounded comment would get
    posted = github.post_comment(body)
    assert posted.status_code == 201, posted.text
    assert "**Plan: 100,000 to enroll; 0 unchanged.**" in body
    assert "**100,000 irreversible enrollments** will send real messages" in body
    assert "> :no_entry: Refused without `--allow-large`:" in body
    assert "lead000001@example.com" not in body and "Lead000001" not in body  # --mask-pii
    assert body.rstrip().endswith("**Full plan:** artifact `campaignctl-plan-0123abcd` (plan.txt: every change) "
                                  "of [this run](https://github.example/o/r/actions/runs/42)")
    assert full.count("+ enroll ") == LEADS  # the artifact holds every change
    assert json.loads((job / "plan.json").read_text())["summary"]["enroll"] == LEADS
    again = github.post_comment(body.replace("0 unchanged", "0 unchanged "))  # the next push updates it in place
    assert again.status_code == 200 and len(github.comments) == 1
