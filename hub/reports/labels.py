"""Chinese labels of offences and stages used by the statistics page and the bulletin."""

from __future__ import annotations

OFFENCE_ZH = {
    "trademark_counterfeiting": "假冒注册商标罪（213）",
    "counterfeit_goods_sale": "销售假冒注册商标的商品罪（214）",
    "illegal_marks": "非法制造、销售非法制造的注册商标标识罪（215）",
    "patent_counterfeiting": "假冒专利罪（216）",
    "copyright_infringement": "侵犯著作权罪（217）",
    "infringing_copies_sale": "销售侵权复制品罪（218）",
    "trade_secret": "侵犯商业秘密罪（219）",
    "shoddy_products": "生产、销售伪劣产品罪（140）",
    "fake_agricultural_inputs": "生产、销售伪劣农药、兽药、化肥、种子罪（147）",
    "other": "其他",
    "unknown": "未知",
}


def offence_zh(code: str | None) -> str:
    return OFFENCE_ZH.get(code or "unknown", code or "未知")
