"""The App Home tab: what is yours, what waits on you, what is frozen, in one view per person.

view.py      the view built once from plain data, as Block Kit (within Slack's limits) and as text
tab.py       who watches it, what it shows (read from the store only), republished when that changes
"""
