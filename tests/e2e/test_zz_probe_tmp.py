import re, time
from conftest import *
from test_browser import choose_tiny

def test_probe(page, server):
    fails = 0
    for i in range(6):
        try:
            choose_tiny(page, server, train_size=1000 + i, test_size=500, epochs=3)
        except AssertionError as e:
            fails += 1
            print("FAIL", i, page.url, [page.get_by_role("spinbutton", name=l, exact=True).evaluate_all("els=>els.map(e=>e.value)") for l in ("Training images", "Test images", "Epochs")])
            print(str(e)[:300])
        print(i, page.url)
    assert not fails
