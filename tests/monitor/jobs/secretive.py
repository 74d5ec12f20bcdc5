import os
import sys
import time

word = os.environ.get("WORD", "plain")  # the tests pass the word the values are made of


def connect(user, password, options):
    db_token = f"tok-{word}-2"
    settings = {"host": "db", "api_key": f"key-{word}-3"}
    return len(user) + len(password) + len(db_token) + len(settings) + len(options)


def risky():
    try:
        return {}["missing"]
    except KeyError:
        return None


print(f"token=log-{word}-4")
print(connect("alice", f"pw-{word}-1", {"secret": f"opt-{word}-5"}), risky())
time.sleep(float(os.environ.get("LINGER", "0")))
print(len(sys.argv))
