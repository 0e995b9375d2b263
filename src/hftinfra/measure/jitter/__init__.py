"""OS noise per CPU: a busy loop or a timer thread on each measured CPU, the time it lost,
and what took it (interrupt and task counts over the run; trace events per gap, as root)."""
