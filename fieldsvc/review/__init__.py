"""The auditor's side (A-QUEUE, A-DECIDE): the queue of flagged visits, the evidence view, decisions."""
