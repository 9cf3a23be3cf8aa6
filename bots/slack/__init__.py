"""Slack adapter: ``advisor slack`` (``runner.run_slack``), ``advisor run`` (``runner.start_slack``)."""
