"""Class sessions: the database (``store``), a student's sharing of per-second aggregates (``share``), the
figures computed from the stored rows (``figures``, pure) and what the teacher's dashboard reads (``summary``).
"""
