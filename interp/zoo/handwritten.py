"""Probes written by hand in sentence frames the generator does not use (20 per phenomenon).

They check that the zoo models learned the phenomena rather than the grammar's templates: other intro and
query frames, filler and distractor sentences between fact and query, attractors after "on" and "of",
relative clauses with a noun subject, cue words several words after the cloze slot. Every word is in the zoo
vocabulary. ``python -m interp.zoo.evaluate`` reports accuracy on them.
"""

from __future__ import annotations

from interp.zoo.corpus import Probe

_LEFT_RECALL = """
anna lives in oslo . ben lives in rome . it was a cold night . we went to the park . anna lives in ___ . | oslo
ben has a red car . dora has a blue car . the dog barked . so ben has a ___ car . | red
karl lives in lima and nina lives in cairo . later we drove to rome . nina lives in ___ . | cairo
emil has a green hat . fay has a black hat . greg has a white hat . i think fay has a ___ hat . | black
hana lives in tokyo . ivan lives in quito . the keys are on the table . ivan lives in ___ . | quito
jane has a pink bag . abe has a brown bag . we saw a cat . it meowed . jane has a ___ bag . | pink
lena lives in riga . milo lives in sofia . omar lives in bern . milo lives in ___ . | sofia
pia has a brown cup . quinn has a yellow cup . the students are here . pia has a ___ cup today . | brown
rosa lives in doha . sam lives in minsk . at noon we went to the market . rosa lives in ___ today . | doha
tara has a blue ball . uma has a red ball . vic has a green ball . uma has a ___ ball . | red
wes lives in perth . xena lives in oran . the river was quiet . so wes lives in ___ , i think . | perth
yuri has a black coat . zoe has a white coat . it was morning in paris . zoe has a ___ coat . | white
abe lives in accra . bea lives in hanoi . cole lives in kyiv . we know that cole lives in ___ . | kyiv
dina has a yellow lamp . eli has a pink lamp . the dog near the river barked . eli has a ___ lamp . | pink
flo lives in delhi . gus lives in dakar . flo walked to the station . gus lives in ___ . | dakar
ida has a red bike . jon has a brown bike . kim has a blue bike . then jon has a ___ bike . | brown
leo lives in tunis . mae lives in lima . the book is old . mae lives in ___ . | lima
ned has a green cup . ola has a black cup . we heard that the park was dark . ned has a ___ cup . | green
carl lives in rome . anna lives in paris . carl and anna talked at the library . anna lives in ___ . | paris
ben has a white hat . karl has a pink hat . remember that karl has a ___ hat . | pink
"""

_INDUCTION = """
anna berg and ben lund went home . later we saw anna ___ . | berg
we met carl moss at the park . then carl ___ sat down . | moss
dora hart talked to emil reed . emil ___ smiled . | reed
fay vale , greg cross and hana fox met at the school . it was a cold night . hana ___ went home . | fox
ivan gray walked to the river . the dog barked . ivan ___ was quiet . | gray
jane hale and karl kent met at the market . we talked to karl ___ today . | kent
lena lowe saw milo marsh at the station . later milo ___ called . | marsh
nina noble and omar page went home . omar ___ and nina noble sat down . | page
pia quill met quinn ross . the keys are here . then pia ___ left the park . | quill
rosa stone and sam thorn walked to the bridge . we saw sam ___ at the bridge . | thorn
tara vance , uma wade and vic york met at the harbor . vic ___ smiled . | york
wes ash talked to xena birch at the library . after that xena ___ went home . | birch
yuri clay and zoe dale went home . later zoe ___ was old . | dale
we saw abe fenn and bea frost at the park . abe ___ sat down . | fenn
cole glenn met dina hayes in rome . dina ___ called . | hayes
eli berg and flo lund talked at the market . it was noon . we talked to flo ___ . | lund
gus moss walked to the school with ida hart . ida ___ smiled . | hart
jon reed and kim vale met at the station . the cat meowed . jon ___ went home . | reed
leo cross , mae fox and ned gray went home . then mae ___ sat down . | fox
ola hale met anna kent at the river . anna ___ was quiet today . | kent
"""

_AGREEMENT = """
the keys to the cabinet ___ on the table . | are
the key to the cabinets ___ here . | is
the books that the teacher saw ___ old . | are
the letter that the students left ___ on the table . | is
the paintings near the window ___ dark . | are
the box behind the doors ___ big . | is
the teachers with the student ___ here . | are
the picture above the shelves ___ old . | is
the bottles on the table ___ cold . | are
the chair near the tables that we saw ___ small . | is
the doors of the garden ___ quiet . | are
the student that the teachers saw ___ here . | is
the windows of the library ___ bright . | are
the shelf under the boxes near the doors ___ old . | is
the gardens behind the school ___ warm . | are
i think the key to the doors ___ gone . | is
the cabinets beside the chair ___ very big . | are
the book that anna left ___ on the table . | is
the letters to the teacher ___ gone . | are
the painting with the bottles ___ dark . | is
"""

_RIGHT_CLOZE = """
the ___ near the river quacked . | duck
a ___ in the park barked at the mailman . | dog
the ___ at the station meowed all night . | cat
the old ___ near the bridge mooed . | cow
the ___ , i think , roared . | lion
we saw a ___ . it hissed . | snake
the ___ in the garden buzzed all night . | bee
a ___ that we saw bleated twice . | sheep
the ___ near the river croaked all night . | frog
one night the ___ in the park hooted . | owl
the big ___ near the market oinked . | pig
at night the ___ near the school howled . | wolf
the ___ at the harbor neighed loudly . | horse
the ___ above the bridge cawed . | crow
the ___ that anna saw barked . | dog
the small ___ in the night meowed twice . | cat
a ___ under the table quacked . | duck
the ___ near the library roared all night . | lion
we heard a ___ near the river . it croaked . | frog
the ___ behind the station buzzed loudly . | bee
"""


def probes() -> list[Probe]:
    """The 80 hand-written probes (construction "handwritten")."""
    out = []
    for phenomenon, block in (
        ("left_recall", _LEFT_RECALL),
        ("induction", _INDUCTION),
        ("agreement", _AGREEMENT),
        ("right_cloze", _RIGHT_CLOZE),
    ):
        for line in block.strip().splitlines():
            text, answer = (part.strip() for part in line.split("|"))
            out.append(Probe(text, answer, phenomenon, "handwritten"))
    return out
