"""Booking and dispatch: work orders, appointments, assignment, reschedules and cancellations."""
