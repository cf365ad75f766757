"""The fixed-plan apply's global gate fails: nobody sends, nobody waits forever.

Every vendor thread of `FixedPlanApply` waits for the verdict computed once every vendor is read (the
safety limits over the whole plan, or a saved plan's contact-policy re-check). When that step raises,
no vendor may write, the other threads must not wait forever, and the failure must reach the caller
as a clear error. Before the fix each woken thread ran the step again itself: a failure that did not
repeat (a lost database connection, a broken output pipe) let the next thread's run pass and the other
vendors send, while the failed vendor's thread died with a bare exception.

Over the in-process sandbox; each apply runs in a thread joined with a bound, so a hang fails the test
instead of stalling the suite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from reconciler.apply_report import ChangeResult
from reconciler.engine import open_session
from reconciler.errors import PlanError
from reconciler.orchestrate import ApplyHooks, ApplyRun, run_apply
from reconciler.pipeline import FixedPlanApply
from reconciler.plan_types import Plan
from tests.apply._support import UNCHECKED, writes
from tests.policy._support import SandboxTime, clock_to, plan_now, policy_sandbox, sandbox_now

BOUND_SECONDS = 90  # an apply of the example takes a few seconds; a hang waits forever


def bounded(call: Callable[[], object], pipeline: Callable[[], FixedPlanApply | None]) -> BaseException | None:
    """Run `call` in a thread; what it raised, or None. If it has not ended within the bound, release
    the vendor threads still waiting for a verdict (with a refusal: nothing more is sent) and fail."""
    raised: list[BaseException] = []

    def body() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            raised.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(BOUND_SECONDS)
    if thread.is_alive():
        run = pipeline()
        if run is not None:
            with run._cond:
                run._verdict = ["released by the test"]
                run._cond.notify_all()
        thread.join(BOUND_SECONDS)
        pytest.fail(f"the apply did not end within {BOUND_SECONDS} s: vendor threads wait for a verdict forever")
    return raised[0] if raised else None


def test_a_whole_plan_check_that_raises_once_refuses_every_vendor(tmp_path):
    """`apply --auto-approve` under a cross-vendor rule: every vendor waits for the whole plan. The
    check over it fails once (it would pass if run again): the verdict is a refusal for every vendor,
    the check is not run again by another thread, nothing is sent."""
    calls: list[int] = []

    def failing_check(plan: Plan) -> list[str]:
        calls.append(len(plan.changes))
        if len(calls) == 1:
            raise RuntimeError("the safety check broke")
        return []

    with policy_sandbox(tmp_path, "  exclusive: true\n") as (root, hub):
        with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session:
            run = FixedPlanApply(session, plan=None, allow=failing_check, partial=False)
            raised = bounded(run.run, lambda: run)
        assert writes(hub) == [] and hub.store.sends() == {}
        assert raised is None  # recorded in the result, as a vendor's failure is
        assert len(calls) == 1 and calls[0] > 0  # once, over the whole plan
        assert run.result.refused == []  # no safety limit refused it: the check itself failed
        [error] = run.result.errors.values()
        assert isinstance(error, PlanError)
        assert str(error) == ("the safety check of the whole plan failed, so no vendor writes; nothing was sent: "
                              "RuntimeError: the safety check broke")
        assert run.result.report.results == []


def test_a_saved_plan_recheck_that_raises_once_refuses_every_vendor_and_reaches_the_caller(tmp_path):
    """`apply PLAN` under a contact policy: every vendor waits for the policy's re-check of the saved
    plan. Reporting the enrollment it holds back fails once (the caller's progress hook raises): no
    vendor enrolls anyone, and the apply raises a clear error."""
    with policy_sandbox(tmp_path, "  vendor_opt_outs: true\n") as (root, hub):
        saved = plan_now(root, hub)
        maria = "clarky.membership[inbound-es][maria-garcia]"
        with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session, \
                ApplyRun(session, replace(UNCHECKED, plan=replace(saved, changes=[
                    c for c in saved.changes if str(c.address) == maria]), review=False)) as first:
            first.prepare()
            first.execute()
        assert "maria@example.com unsubscribed" in hub.event("clarky", "unsubscribe", contact="maria@example.com")
        clock_to(hub, sandbox_now(hub) + timedelta(minutes=16))  # past status_refresh_minutes: apply reads it
        sends_before, writes_before = dict(hub.store.sends()), len(writes(hub))
        gary_only = replace(saved, changes=[c for c in saved.changes if c.provider == "gary"])

        shown: list[str] = []

        def broken_pipe(result: ChangeResult) -> None:
            shown.append(result.address)
            if len(shown) == 1:
                raise BrokenPipeError("stdout closed")

        runs: list[ApplyRun] = []

        def apply() -> None:
            with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session:
                request = replace(UNCHECKED, plan=gary_only, review=False)  # `apply PLAN`: each vendor read afresh
                with ApplyRun(session, request, ApplyHooks(progress=broken_pipe)) as run:
                    runs.append(run)
                    run.prepare()
                    run.check()
                    outcome = run.execute()
                outcome.raise_for_failure()

        error = bounded(apply, lambda: runs[0].pipeline if runs else None)
        assert hub.store.sends() == sends_before and len(writes(hub)) == writes_before
        assert isinstance(error, PlanError), error
        assert str(error) == ("the contact policy's re-check of the saved plan failed, so no vendor writes; nothing "
                              "was sent: BrokenPipeError: stdout closed")
        assert isinstance(error.__cause__, BrokenPipeError)
        assert shown == ["gary.membership[nurture][maria-garcia]"]  # held back, reported once, not re-checked
        # The lock was released: the same apply with a hook that works sends what the re-check lets through.
        with open_session(root, env={}, hub=hub, clock=SandboxTime(hub)) as session:
            report = run_apply(session, replace(UNCHECKED, plan=gary_only, review=False)).report
        assert any(r.status == "ok" and r.action == "enroll" for r in report.results)
        assert all(n == 1 for n in hub.store.sends().values())
