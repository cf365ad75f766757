"""Contact policy across vendors: suppression, one outreach at a time, cool-downs, send windows and
the volume forecast (README "Contact policy").

Every vendor guards its own sequences; this package guards the person. It is a pass over the plan
the planner computed (enforce.py), a forecast of the messages that plan sends (forecast.py), a check
apply makes before each enrollment batch (windows at dispatch time) and drift's violations
(violations.py). It reads only neutral records: vendor facts (an unsubscribe, a sequence's steps)
reach it through fields the providers fill.

Modules are imported directly (reconciler.contact_policy.enforce, ...): this package's face stays
empty so that reconciler.model can import its settings without a cycle.
"""
