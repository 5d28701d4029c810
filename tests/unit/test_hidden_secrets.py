"""The log filter that keeps tokens out of every process's logs (replyloop.bootstrap)."""

from __future__ import annotations

import io
import logging

from replyloop.bootstrap import HiddenSecrets

TOKEN = "123456:SECRET-token"


def logged(*secrets: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(HiddenSecrets(set(secrets)))
    logger = logging.getLogger(f"test-hidden-{id(out)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, out


def test_a_url_with_the_token_is_logged_without_it() -> None:
    logger, out = logged(TOKEN)
    logger.info("HTTP Request: POST %s %s", f"http://h/bot{TOKEN}/getUpdates", "200 OK")
    assert out.getvalue() == "HTTP Request: POST http://h/bot***/getUpdates 200 OK\n"


def test_a_traceback_quoting_the_token_is_logged_without_it() -> None:
    logger, out = logged(TOKEN)
    try:
        raise ValueError(f"The token `{TOKEN}` was rejected by the server.")
    except ValueError:
        logger.exception("start-up failed (100% sure)")
    text = out.getvalue()
    assert TOKEN not in text
    assert "The token `***` was rejected" in text
    assert text.startswith("start-up failed (100% sure)\n")


def test_other_records_are_untouched() -> None:
    logger, out = logged(TOKEN)
    logger.info("%d replies", 3)
    assert out.getvalue() == "3 replies\n"


def test_a_short_secret_leaves_ordinary_words_alone() -> None:
    # WECOM_SECRET=s once turned "assume" into "a******ume" on every line.
    logger, out = logged("s", "sact")
    logger.info("Will assume non-transactional DDL.")
    assert out.getvalue() == "Will assume non-transactional DDL.\n"


def test_a_short_secret_is_hidden_where_it_stands_as_a_value() -> None:
    logger, out = logged("s", "pw1")
    logger.info("GET /gettoken?corpsecret=s&id=7 as bot:pw1@db (it's said)")
    assert out.getvalue() == "GET /gettoken?corpsecret=***&id=7 as bot:***@db (it's said)\n"


def test_a_real_token_is_hidden_beside_a_short_secret() -> None:
    slack = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
    wecom = "Tz3kq0b6N1mYp8a2Vw5cXs9dRf4gHj7kLe1oIu2yTr3"  # a 43-character WeCom secret
    logger, out = logged("s", slack, wecom)
    logger.info("GET https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpsecret=%s&x=1", wecom)
    logger.info("auth.test with %s: sure", slack)
    assert out.getvalue() == (
        "GET https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpsecret=***&x=1\n"
        "auth.test with ***: sure\n"
    )
