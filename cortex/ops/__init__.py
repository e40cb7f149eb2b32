"""Operations: the library gateway, the control surface behind the admin API,
reloads, crash drills, the command line and the demo."""
