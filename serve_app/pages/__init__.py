"""The Panel pages: the task list (``/``), the new-task form (``/new``), one task (``/task?id=``)."""
