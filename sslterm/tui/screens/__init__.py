"""The app's screens: the runs list, one run's dashboard, and small dialogs."""
