"""Chinese names, phones, shop and firm names of the demo county, from one random stream."""
from app.demo.common import COUNTY, Weighted

# Surnames weighted roughly by national frequency, with 冉 母 敖 骆 as common as they are in 黔北.
SURNAMES = [
    ("王", 71), ("李", 70), ("张", 68), ("刘", 54), ("陈", 45), ("杨", 42), ("赵", 23), ("黄", 22),
    ("周", 21), ("吴", 20), ("徐", 17), ("孙", 15), ("胡", 13), ("朱", 13), ("高", 12), ("林", 12),
    ("何", 12), ("郭", 11), ("马", 11), ("罗", 12), ("梁", 9), ("宋", 8), ("郑", 8), ("谢", 8),
    ("韩", 7), ("唐", 7), ("冯", 7), ("邓", 7), ("曹", 6), ("彭", 6), ("曾", 6), ("肖", 6),
    ("田", 8), ("袁", 6), ("蔡", 5), ("龙", 5), ("付", 5), ("邹", 5), ("韦", 4), ("任", 5),
    ("熊", 4), ("谭", 4), ("廖", 4), ("向", 4), ("申", 3), ("犹", 2), ("冉", 16), ("母", 7),
    ("敖", 7), ("骆", 6),
]
MALE_FIRST = "国建明军华志永德成文光学正家开世大长先忠兴定中元洪祖荣贵富仁"
MALE_SECOND = "平强伟勇林海波刚峰鹏军华明福祥才发全权龙云山江兵生清东松友顺"
FEMALE_FIRST = "秀玉桂春金丽小美淑翠红素雪"
FEMALE_SECOND = "英芳兰珍琴梅霞凤娟敏萍莲琼菊花群艳燕芬香"
YOUNG = "子浩宇轩涵欣怡梓俊杰思雨博佳诗晨睿可"
# 生僻字 that real names carry and fonts, indexes and masks must survive; 𠇔 is outside the BMP.
RARE = ["䶮", "\U000201D4", "㛃", "龑", "堃", "犇", "淼", "赟", "喆"]
SUPPLEMENTARY_RARE = "\U000201D4"  # 𠇔

TOWN_SHOPS = [
    "杂货店", "超市", "五金店", "建材店", "药店", "理发店", "服装店", "手机店", "粮油店", "鲜肉店", "烟酒店", "茶叶店",
    "餐馆", "面馆", "早餐店", "修车店", "电器行", "农资店", "副食店", "照相馆", "文具店", "家具店", "火锅店",
]
VILLAGE_SHOPS = ["小卖部", "农资店", "便民超市", "农家乐", "副食店", "酒坊", "豆腐坊", "修车铺", "兽药店", "粮油店"]
VILLAGE_MARKET_STREETS = ["老街", "新街", "场坝街", "河边街", "正街"]
FIRM_WORDS = ["鑫源", "恒通", "宏达", "兴盛", "金穗", "山水", "绿源", "盛世", "仡乡", "银河", "永丰", "众鑫"]
FIRM_TRADES = ["商贸", "建材", "运输", "酒业", "食品", "建筑工程", "农业开发", "茶业", "物流", "医药"]
COOPERATIVES = [("茶叶", "planting"), ("方竹笋", "planting"), ("蔬菜种植", "planting"),
                ("中药材", "planting"), ("辣椒", "planting"), ("食用菌", "planting"),
                ("生猪养殖", "breeding"), ("肉牛养殖", "breeding"), ("蜂蜜", "breeding")]
ELSEWHERE = ["邮储银行存款", "农业银行存款", "邮储银行贷款", "农业银行贷款", "建设银行存款",
             "村镇银行贷款", "支付宝理财", "商业保险"]
PHONE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                  "152", "155", "157", "158", "159", "180", "181", "182", "183", "185", "187",
                  "188", "189", "191", "198", "199"]


class People:
    """Chinese names, phones and shop names from one random stream."""

    def __init__(self, rng):
        self.rng = rng
        self.surnames = Weighted(dict(SURNAMES))
        self.phones = set()  # membership only, never iterated

    def surname(self):
        return self.surnames.pick(self.rng)

    def given(self, male, young=False, rare=None):
        r = self.rng
        if young:
            chars = [r.choice(YOUNG), r.choice(YOUNG + (MALE_SECOND if male else FEMALE_SECOND))]
        elif male:
            chars = [r.choice(MALE_FIRST), r.choice(MALE_SECOND)]
        else:
            chars = [r.choice(FEMALE_FIRST), r.choice(FEMALE_SECOND)]
        if r.random() < 0.22:
            chars = chars[1:]
        if rare:
            chars[-1] = rare
        return "".join(chars)

    def person(self, male=True, surname=None, young=False, rare=None):
        return (surname or self.surname()) + self.given(male, young, rare)

    def phone(self):
        r = self.rng
        while True:
            number = r.choice(PHONE_PREFIXES) + f"{r.randrange(10 ** 8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def shop(self, kinds, place):
        r = self.rng
        kind = r.choice(kinds)
        style = r.random()
        if style < 0.35:
            return f"{self.surname()}记{kind}"
        if style < 0.5:
            return f"{self.surname()}氏{kind}"
        if style < 0.6:
            return f"{self.surname()}家{kind}"
        if style < 0.9:
            return f"{r.choice(MALE_FIRST)}{r.choice(MALE_SECOND)}{kind}"
        return f"{place}{kind}"

    def enterprise(self, place, rural):
        r = self.rng
        if rural and r.random() < 0.75:
            if r.random() < 0.2:
                return f"{COUNTY}{self.surname()}氏家庭农场", r.choice(["planting", "breeding"])
            product, category = r.choice(COOPERATIVES)
            return f"{COUNTY}{place}{product}专业合作社", category
        return f"{COUNTY}{r.choice(FIRM_WORDS)}{r.choice(FIRM_TRADES)}有限公司", "enterprise"

