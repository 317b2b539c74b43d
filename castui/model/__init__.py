"""The ground floor: the vocabulary every layer shares (events, alerts, marks, times, result
codes, statuses, the balancer's words) and small helpers. It imports nothing else of castui."""
