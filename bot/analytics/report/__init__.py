"""``kefu report``: the supervisors' page (HTML with embedded charts) and a CSV of every figure."""
