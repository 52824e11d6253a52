"""Random sentences in many languages, built offline from short clause lists written here.

A sentence joins one to several clauses (shuffled, sometimes with a number the TTS engine reads
in that language) with varied punctuation, so pauses, questions and exclamations vary the
prosody. Japanese is written in kana and Chinese in hanzi (espeak-ng's ``cmn-latn-pinyin`` voice
reads hanzi; its Japanese dictionary reads kana but not kanji).
"""

from __future__ import annotations

import numpy as np

CLAUSES: dict[str, tuple[str, ...]] = {
    "en": (
        "the morning train was late again",
        "we should buy a map before the trip",
        "my brother plays the piano every evening",
        "please bring the blue box to the kitchen",
        "nobody expected the weather to change so quickly",
        "she opened the window and looked at the harbour",
        "maybe we can meet at the museum tomorrow",
        "the price of bread went up last week",
        "I think the meeting will be very short",
        "they built a small bridge over the river",
        "how many people came to the party",
        "the old man fed the pigeons in the park",
        "you have to press the button twice",
        "our team won the match by a single point",
        "the baby finally fell asleep",
        "a warm cup of tea would be perfect right now",
        "he forgot his umbrella on the bus",
        "the library closes at nine on Fridays",
        "would you like to join us for dinner",
        "every problem has more than one solution",
        "the children were playing football in the street",
        "remember to water the plants while I am away",
        "this movie was much better than the book",
        "we measured the temperature every hour",
    ),
    "es": (
        "el tren de la mañana llegó tarde otra vez",
        "mi hermana vive cerca del mar",
        "por favor cierra la puerta con cuidado",
        "mañana vamos a comprar pan y queso",
        "el perro duerme debajo de la mesa",
        "nadie sabía la respuesta correcta",
        "la biblioteca abre a las nueve",
        "quieres venir al cine con nosotros",
        "el café está demasiado caliente",
        "los niños juegan en el parque todos los días",
        "hace mucho frío en las montañas",
        "mi abuelo cuenta historias muy divertidas",
        "necesitamos un mapa nuevo para el viaje",
        "el museo estaba lleno de turistas",
        "ella escribe cartas a sus amigos",
        "cuántas personas vinieron a la fiesta",
        "la lluvia empezó de repente",
        "compramos flores para la boda",
    ),
    "fr": (
        "le train du matin était encore en retard",
        "ma soeur habite près de la mer",
        "fermez la porte doucement s'il vous plaît",
        "demain nous allons acheter du pain",
        "le chat dort sous la table",
        "personne ne connaissait la réponse",
        "la bibliothèque ouvre à neuf heures",
        "tu veux venir au cinéma avec nous",
        "le café est beaucoup trop chaud",
        "les enfants jouent dans le parc",
        "il fait très froid à la montagne",
        "mon grand-père raconte des histoires drôles",
        "nous avons besoin d'une nouvelle carte",
        "le musée était plein de visiteurs",
        "elle écrit une lettre à son ami",
        "combien de personnes sont venues",
        "la pluie a commencé soudainement",
        "on a acheté des fleurs pour le mariage",
    ),
    "de": (
        "der Zug am Morgen war wieder zu spät",
        "meine Schwester wohnt am Meer",
        "bitte mach die Tür leise zu",
        "morgen kaufen wir Brot und Butter",
        "der Hund schläft unter dem Tisch",
        "niemand kannte die richtige Antwort",
        "die Bibliothek öffnet um neun Uhr",
        "willst du mit uns ins Kino gehen",
        "der Kaffee ist viel zu heiß",
        "die Kinder spielen jeden Tag im Park",
        "in den Bergen ist es sehr kalt",
        "mein Opa erzählt lustige Geschichten",
        "wir brauchen eine neue Karte für die Reise",
        "das Museum war voller Besucher",
        "sie schreibt ihrem Freund einen Brief",
        "wie viele Leute sind gekommen",
        "plötzlich fing es an zu regnen",
        "wir haben Blumen für die Hochzeit gekauft",
    ),
    "it": (
        "il treno del mattino era di nuovo in ritardo",
        "mia sorella abita vicino al mare",
        "per favore chiudi la porta piano",
        "domani compriamo il pane e il formaggio",
        "il gatto dorme sotto il tavolo",
        "nessuno sapeva la risposta giusta",
        "la biblioteca apre alle nove",
        "vuoi venire al cinema con noi",
        "il caffè è troppo caldo",
        "i bambini giocano nel parco ogni giorno",
        "in montagna fa molto freddo",
        "mio nonno racconta storie divertenti",
        "abbiamo bisogno di una mappa nuova",
        "il museo era pieno di turisti",
        "lei scrive una lettera al suo amico",
        "quante persone sono venute alla festa",
    ),
    "pt": (
        "o comboio da manhã chegou atrasado outra vez",
        "a minha irmã mora perto do mar",
        "por favor fecha a porta devagar",
        "amanhã vamos comprar pão e queijo",
        "o cão dorme debaixo da mesa",
        "ninguém sabia a resposta certa",
        "a biblioteca abre às nove horas",
        "queres vir ao cinema connosco",
        "o café está muito quente",
        "as crianças brincam no parque todos os dias",
        "faz muito frio nas montanhas",
        "o meu avô conta histórias engraçadas",
        "precisamos de um mapa novo para a viagem",
        "quantas pessoas vieram à festa",
    ),
    "nl": (
        "de trein van vanochtend was weer te laat",
        "mijn zus woont vlak bij de zee",
        "doe de deur alsjeblieft zachtjes dicht",
        "morgen kopen we brood en kaas",
        "de hond slaapt onder de tafel",
        "niemand wist het goede antwoord",
        "de bibliotheek gaat om negen uur open",
        "wil je met ons naar de bioscoop",
        "de koffie is veel te heet",
        "de kinderen spelen elke dag in het park",
        "mijn opa vertelt grappige verhalen",
        "hoeveel mensen kwamen er naar het feest",
    ),
    "pl": (
        "poranny pociąg znowu się spóźnił",
        "moja siostra mieszka nad morzem",
        "proszę zamknij cicho drzwi",
        "jutro kupimy chleb i ser",
        "pies śpi pod stołem",
        "nikt nie znał dobrej odpowiedzi",
        "biblioteka jest otwarta od dziewiątej",
        "czy chcesz pójść z nami do kina",
        "kawa jest za gorąca",
        "dzieci bawią się w parku codziennie",
        "w górach jest bardzo zimno",
        "mój dziadek opowiada zabawne historie",
        "ile osób przyszło na przyjęcie",
    ),
    "tr": (
        "sabah treni yine geç kaldı",
        "kız kardeşim denizin yanında oturuyor",
        "lütfen kapıyı yavaşça kapat",
        "yarın ekmek ve peynir alacağız",
        "köpek masanın altında uyuyor",
        "kimse doğru cevabı bilmiyordu",
        "kütüphane saat dokuzda açılıyor",
        "bizimle sinemaya gelmek ister misin",
        "kahve çok sıcak",
        "çocuklar her gün parkta oynuyor",
        "dağlarda hava çok soğuk",
        "dedem komik hikayeler anlatıyor",
        "partiye kaç kişi geldi",
    ),
    "id": (
        "kereta pagi terlambat lagi",
        "kakak saya tinggal dekat pantai",
        "tolong tutup pintunya pelan pelan",
        "besok kita akan membeli roti dan keju",
        "anjing itu tidur di bawah meja",
        "tidak ada yang tahu jawabannya",
        "perpustakaan buka jam sembilan",
        "apakah kamu mau ikut ke bioskop",
        "kopinya terlalu panas",
        "anak anak bermain di taman setiap hari",
        "kakek saya suka bercerita",
        "berapa orang yang datang ke pesta",
    ),
    "sw": (
        "treni ya asubuhi imechelewa tena",
        "dada yangu anaishi karibu na bahari",
        "tafadhali funga mlango polepole",
        "kesho tutanunua mkate na maziwa",
        "mbwa analala chini ya meza",
        "hakuna aliyejua jibu sahihi",
        "watoto wanacheza bustanini kila siku",
        "babu yangu anasimulia hadithi nzuri",
        "watu wangapi walikuja kwenye sherehe",
        "chai hii ni moto sana",
    ),
    "ru": (
        "утренний поезд опять опоздал",
        "моя сестра живёт у моря",
        "пожалуйста закрой дверь потише",
        "завтра мы купим хлеб и сыр",
        "собака спит под столом",
        "никто не знал правильного ответа",
        "библиотека открывается в девять часов",
        "хочешь пойти с нами в кино",
        "кофе слишком горячий",
        "дети каждый день играют в парке",
        "в горах очень холодно",
        "мой дедушка рассказывает смешные истории",
        "нам нужна новая карта для поездки",
        "музей был полон туристов",
        "она пишет письмо своему другу",
        "сколько человек пришло на праздник",
        "внезапно пошёл сильный дождь",
    ),
    "el": (
        "το πρωινό τρένο άργησε πάλι",
        "η αδελφή μου μένει κοντά στη θάλασσα",
        "κλείσε την πόρτα σιγά σε παρακαλώ",
        "αύριο θα αγοράσουμε ψωμί και τυρί",
        "ο σκύλος κοιμάται κάτω από το τραπέζι",
        "κανείς δεν ήξερε τη σωστή απάντηση",
        "η βιβλιοθήκη ανοίγει στις εννιά",
        "θέλεις να έρθεις μαζί μας στον κινηματογράφο",
        "ο καφές είναι πολύ ζεστός",
        "τα παιδιά παίζουν στο πάρκο κάθε μέρα",
        "ο παππούς μου λέει αστείες ιστορίες",
        "πόσοι άνθρωποι ήρθαν στη γιορτή",
    ),
    "hi": (
        "सुबह की ट्रेन फिर से देर से आई",
        "मेरी बहन समुद्र के पास रहती है",
        "कृपया दरवाज़ा धीरे से बंद करो",
        "कल हम रोटी और पनीर खरीदेंगे",
        "कुत्ता मेज़ के नीचे सो रहा है",
        "किसी को सही जवाब नहीं पता था",
        "पुस्तकालय नौ बजे खुलता है",
        "क्या तुम हमारे साथ फ़िल्म देखने चलोगे",
        "चाय बहुत गरम है",
        "बच्चे हर दिन पार्क में खेलते हैं",
        "पहाड़ों पर बहुत ठंड है",
        "मेरे दादाजी मज़ेदार कहानियाँ सुनाते हैं",
        "पार्टी में कितने लोग आए",
    ),
    "ja": (
        "けさの でんしゃは また おくれました",
        "いもうとは うみの ちかくに すんでいます",
        "どうぞ ドアを しずかに しめて ください",
        "あした パンと チーズを かいます",
        "いぬは テーブルの したで ねています",
        "だれも こたえを しりませんでした",
        "としょかんは くじに あきます",
        "いっしょに えいがを みに いきませんか",
        "この コーヒーは とても あついです",
        "こどもたちは まいにち こうえんで あそびます",
        "やまの うえは とても さむいです",
        "おじいさんは おもしろい はなしを します",
        "パーティーには なんにん きましたか",
    ),
    "zh": (
        "早上的火车又晚点了",
        "我妹妹住在海边",
        "请你轻轻地关上门",
        "明天我们去买面包和牛奶",
        "小狗在桌子下面睡觉",
        "没有人知道正确的答案",
        "图书馆九点开门",
        "你想和我们一起去看电影吗",
        "这杯咖啡太烫了",
        "孩子们每天都在公园里玩",
        "山上非常冷",
        "我爷爷讲的故事很有意思",
        "今天有多少人来参加聚会",
        "外面突然下起了大雨",
    ),
}

LANGUAGES = tuple(CLAUSES)
# Languages written without spaces between words: clauses are never shuffled word by word.
_NO_SPACES = {"ja", "zh"}
_ENDINGS = (". ", ". ", ". ", "? ", "! ", ", ", ", ", "; ")
_ZH_JA_ENDINGS = ("。", "。", "？", "！", "、", "，")


def sentence(language: str, rng: np.random.Generator, clauses: int | None = None) -> str:
    """A random text of ``clauses`` clauses (default 1-4) in ``language`` (a key of CLAUSES)."""
    pool = CLAUSES[language]
    n = int(clauses if clauses is not None else rng.integers(1, 5))
    parts = []
    for _ in range(n):
        clause = pool[int(rng.integers(len(pool)))]
        if language not in _NO_SPACES and rng.random() < 0.25:
            # Word-order shuffles create new phoneme sequences (prosody stays sentence-like).
            words = clause.split()
            rng.shuffle(words)
            clause = " ".join(words)
        if rng.random() < 0.15:
            number = str(int(rng.integers(2, 2000)))
            clause = f"{clause} {number}" if language not in _NO_SPACES else f"{clause}{number}"
        parts.append(clause)
    endings = _ZH_JA_ENDINGS if language in _NO_SPACES else _ENDINGS
    text = ""
    for i, part in enumerate(parts):
        if i < n - 1:
            end = endings[int(rng.integers(len(endings)))]
        else:  # a statement, sometimes a question or an exclamation
            end = endings[int(rng.choice([0, 3, 4] if language not in _NO_SPACES else [0, 2, 3], p=[0.7, 0.2, 0.1]))]
        text += part[0].upper() + part[1:] + end if language not in _NO_SPACES else part + end
    return text.strip()
