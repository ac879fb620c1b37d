import connectors.penalty_csv

def test_x() -> None:
    assert connectors.penalty_csv
