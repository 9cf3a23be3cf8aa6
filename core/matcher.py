"""Free-text question -> what the user wants (kind, roles, topic, entry, confidence).

How a question flows:
1. ``clean_question`` normalises it; ``RoleFinder`` takes the role names out (the role is its own slot).
2. ``_read``: the rest of the question is compared with every phrasing in the knowledge base (entries, shared
   topic phrasings, and labelled examples of legal-advice requests, out-of-scope questions, quiz and help) by
   words (``SimilarityIndex``) and by meaning (``SemanticIndex``, when the embedding model is installed), and
   the intent classifier gives its guess.
3. The decision favours safety: ``_legal_advice`` first (a question that looks like a request for legal advice
   is declined even when it also looks a bit like a career question), then quiz and help, ``_off_topic``, and
   finally ``_rank``: the entry that fits best by words, meaning and the learned topic model, for the roles
   named or carried over from the conversation (none → ``_roleless``: a general answer, or "which role?").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from .intent_classifier import IntentClassifier, IntentGuess
from .kb_model import Entry, KnowledgeBase, Topic
from .role_finder import RoleFinder, RoleFinding
from .semantic import EmbeddingCache, Encoder, SemanticIndex, TopicModel, default_encoder
from .similarity import STOP_WORDS, SimilarityIndex, WordTopicModel, expand_chat
from .text import clean_question, edit_distance_at_most, words


class Kind(StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    QUIZ = "quiz"
    HELP = "help"
    LEGAL_ADVICE = "legal_advice"
    OUT_OF_SCOPE = "out_of_scope"
    THANKS = "thanks"


@dataclass(frozen=True)
class ConversationContext:
    """What the conversation was about, so "and the pay?" can be understood."""

    roles: tuple[str, ...] = ()
    topic: str | None = None
    after_legal_advice: bool = False
    """The last message was declined as a request for legal advice: the person is talking about their own matter,
    so "is that even legal?" or "how much could i get" goes on with it, not with the career last talked about."""


@dataclass(frozen=True)
class Match:
    kind: Kind
    roles: tuple[str, ...] = ()
    topic: Topic | None = None
    entry_id: str | None = None
    confidence: float = 0.0
    suggestions: tuple[str, ...] = ()
    """Entry ids offered as "did you mean" when confidence is low."""
    entries: tuple[str, ...] = ()
    """Every entry the answer should show (several when a question names several roles)."""
    truncated: bool = False
    used_context: bool = False


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds, tuned on the dev split of tests/data/questions.yaml (never on the test split)."""

    answer: float = 0.30
    sure_help: float = 0.60
    classifier_legal_gap: float = 0.40
    classifier_legal_floor: float = 0.10
    classifier_out_of_scope_career: float = 0.55
    classifier_quiz: float = 0.20
    answer_named: float = 0.12
    clarify: float = 0.35
    suggest: float = 0.18
    legal: float = 0.22
    legal_margin: float = 0.04
    intent: float = 0.40
    out_of_scope: float = 0.25
    named_out_of_scope_margin: float = 0.50
    role_bonus: float = 0.12
    role_match: float = 0.15
    role_mismatch: float = 0.35
    weak_topic: float = 0.30
    general_without_group: float = 0.60
    general_over_specific: float = 0.05
    """A general entry answers a question that names no group only when its own phrasing fits this much better
    than the best single role's entry on its topic ("salary?" asks which role; "which of these pays best" does not)."""
    specific_margin: float = 0.05
    # Sentence-embedding (meaning) scores; cosines of all-MiniLM-L6-v2 vectors.
    semantic_weight: float = 0.5
    """How much an entry's meaning score adds to its word score when entries are ranked."""
    topic_model_weight: float = 1.0
    """How much the learned topic model's score for an entry's topic adds when entries are ranked."""
    word_topic_weight: float = 0.25
    """The same for the topic model learned from the phrasings' words..."""
    word_topic_weight_alone: float = 1.0
    """...and when the sentence-embedding model is not installed, where it stands in for the meaning's topic model."""
    semantic_answer: float = 0.45
    semantic_answer_named: float = 0.35
    """The same when a role is named (or carried over): naming our job is itself evidence of a career question."""
    """A question whose words match weakly is still answered when its meaning matches this well."""
    semantic_legal_margin: float = 0.05
    """Declined as legal advice when it is this much closer in meaning to legal-advice examples than to careers."""
    semantic_legal_floor: float = 0.40
    semantic_intent_floor: float = 0.50
    semantic_intent_margin: float = 0.05
    """Quiz or help by meaning: this near its examples, and this much nearer them than any career phrasing."""
    semantic_career_floor: float = 0.60
    """With no role named, a question this far in meaning from every career phrasing is out of scope."""
    semantic_out_of_scope_margin: float = -0.10
    """...and so is one nearly as close to the off-topic examples as to the nearest career phrasing."""
    classifier_narrow_margin: float = 0.15
    both_legal_margin: float = 0.20
    """Declined whatever it names when the classifier says legal advice by this margin and meaning agrees..."""
    both_legal_meaning_slack: float = 0.03
    """...or, from someone speaking of themselves, nearly agrees: a request to do legal work for them ("can you help
    me draft a will") is near in meaning to the duties it names."""
    own_matter_slack: float = 0.10
    """Someone who speaks of "my case", "my lease"... is declined on a little less evidence."""
    semantic_help_veto: float = 0.10
    """A question about the bot itself ("what kind of questions do you answer"), naming the bot and nothing of the
    asker's own, this much nearer in meaning to the help examples than to legal advice, is not declined unless the
    classifier and meaning both say legal advice."""
    semantic_career_veto: float = 0.30
    advice_cue_slack: float = 0.25
    """A request worded as asking what to do about a live matter is declined unless its meaning is this much
    nearer career phrasings than legal-advice examples."""
    background_career_margin: float = 0.10
    """A message that tells a past matter and then asks about one of our jobs ("i got through my own custody case,
    what does a family law paralegal do") is a career question when its last clause alone is this much nearer
    career phrasings than legal-advice examples in meaning."""
    added_question_legal_margin: float = 0.05
    """A question of one's own added to a career question declines the message when the classifier says legal
    advice and the added part alone is this much nearer legal-advice examples than career phrasings in meaning."""
    after_legal_career_margin: float = 0.15
    after_legal_personal_margin: float = 0.30
    """After a declined request, a question naming no role goes back to the job talked about only when it is this
    much nearer career phrasings than legal-advice examples in meaning; the personal margin when it speaks of the
    asker ("what certifications should i get" 0.54, "how much could i get" 0.21)."""
    semantic_words_veto: float = 0.15
    """Shared words alone do not decline a question whose meaning is this much nearer careers or off-topic
    examples than any legal-advice example."""
    classifier_career_veto: float = 0.20
    """Shared words alone do not decline as legal advice a question this much nearer careers in meaning."""
    classifier_personal_career_veto: float = 0.25
    """The classifier alone does not decline a question this much nearer careers in meaning, whoever speaks."""
    career_words: float = 0.70
    career_words_margin: float = 0.30
    """Words this near career phrasings, and this much nearer them than the off-topic examples, are as good as a
    reference to a job when meaning alone would call a question naming no role off-topic."""
    semantic_plainly_career: float = 0.10
    """With no role and no other job named, a question this much nearer in meaning to career phrasings than to
    the off-topic examples is not sent away on shared words alone."""
    semantic_follow_up_slack: float = 0.15
    semantic_specific: float = 0.65
    """A question naming no role gets one role's entry only when it means what that entry's phrasings mean."""


_FOLLOW_UP_OPENERS = (
    *("and ", "what about", "how about", "how bout", "what bout", "also ", "ok and", "okay and", "so what about"),
    *("same for", "vs ", "vs.", "versus", "compared to", "compared with"),
)
_JOB_REFERENCE = re.compile(r"\b(?:the|that|this|these|those) (?:jobs?|roles?|careers?|positions?|field)\b")
_COMPARING = re.compile(
    r"\b(?:vs\.?|versus|or|compared?|comparison|difference|different|differ|better|worse|more|most|less|higher|lower|"
    r"which|who|than|same|closer|glorified|distinguish(?:es)?|doesn'?t|don'?t|can'?t|cannot|isn'?t|aren'?t)\b"
)
"""Words that set two named roles side by side: "what does a paralegal do that a legal secretary can't"."""
_YES_NO_TASK = re.compile(r"(?:so |and |ok |okay )?(?:do|does|did|can|could|will|would|should|is|are)\b")
_THANKING = frozenset({"thanks", "thank", "thx", "thnx", "ty", "tysm", "tyvm", "thankyou", "appreciate", "appreciated"})
_ALONG_WITH_THANKS = frozenset(
    {"you", "u", "so", "much", "a", "lot", "ton", "very", "again", "bot", "man", "dude", "bro", "it", "the", "best"}
    | {"youre", "you're", "ur", "are", "really", "helpful", "great", "ok", "okay", "cool", "awesome", "perfect", "nice"}
    | {"got", "alright", "that", "was", "this", "is", "super", "for", "help", "info", "answer", "answers", "all"}
    | {"oh", "ah", "wow", "lol", "haha", "much", "appreciated", "helps", "helped", "makes", "sense", "and", "of"}
)
"""A message that only thanks ("thanks bot youre the best", "ok got it, thank you!") gets a "you're welcome"."""
_QUIZ_ASKED = re.compile(r"\b(?:quiz|quizz|test me|personality test)\b")
_CHOOSING_FOR_ME = re.compile(
    r"\bwhich (?:\w+ ){0,2}(?:job|jobs|career|careers|role|roles|path|one) "
    r"(?:should|would|do you think|is best for) i\b"
    r"(?: (?:pick|choose|go for|go with|go into|do|get into|pursue|take))?"
)
"""Asking us to pick a job for them ("which legal job should i pick based on what im good at"), naming none of ours:
what the quiz is for."""
_OWN_ANSWER_WHEN_COMPARED = frozenset({Topic.CAREER_PATH, Topic.EDUCATION, Topic.CERTIFICATION, Topic.OUTLOOK})
_MATTERS = (
    r"(?:case|lawsuit|divorce|custody|lease|landlord|ex|will|ticket|arrest|accident|eviction|visa|green card|charges?)"
)
_OWN_MATTER = re.compile(rf"\bmy (?:own|{_MATTERS})\b")
_NAMED_OWN_MATTER = re.compile(rf"\bmy {_MATTERS}\b")
"""As _OWN_MATTER but naming the matter: "my own family" is not one."""
_AS_THE_ROLE = re.compile(
    r"\b(?:as an?|if i'?m an?|if i am an?|(?:if|once|when) i (?:become|get hired as|work as) an?|"
    r"(?:once|when) i'?m an?) (?P<after>(?:\w+ ){0,3})"
)
_MAY_I_AT_WORK = re.compile(
    r"\b(?:(?:am|would|will) i (?:be )?(?:allowed|permitted|supposed)|may i|is it (?:ok|okay) for me|"
    r"(?:am|would|could|will|can) i (?:going to |gonna )?(?:get|be) in (?:\w+ )?trouble|"
    r"i(?:'d| would| will)? be (?:allowed|permitted))\b"
)
"""Someone asking what they could do in the job ("as a paralegal would i be allowed to help my own family fill out
their immigration forms", "if im a paralegal and my friend asks about her lease am i allowed to help"): the rules of
the job, not their own matter."""
_ASKS_FOR_LEGAL_WORK = re.compile(
    r"(?:\b(?:can|could|would|will) (?:you|u) (?:please |pls |just )?(?:as (?:a|an|my) (?:\w+ ){1,2})?(?:help me )?"
    r"|\bhelp me )"
    r"(?:draft|write|write up|review|look over|fill out|fill in|prepare|file|check|research|look up)\b"
    r"(?=.*\b(?:my|me|our|us)\b)"
    r"(?=.*\b(?:wills?|trusts?|contracts?|leases?|agreements?|deeds?|motions?|petitions?|complaints?|affidavits?|claims?|"
    r"statute of limitations|"
    r"power of attorney|prenups?|demand letters?|court (?:forms?|papers?)|divorce papers?|custody papers?|appeals?|"
    r"summons|(?:bankruptcy|immigration|custody|divorce|tax) forms?)\b)"
    # "paralegals draft stuff all the time so draft my response to my non compete letter": told to, not asked.
    r"|(?:^|[,.;!?] |\b(?:so|then|now|pls|please|just|go) )(?:draft|write up|review|research|fill out|fill in|prepare|"
    r"look over) (?:my|me an?|whether my|if my)\b"
    # "estate planning paralegals draft wills, so can you draft mine": the papers are named earlier.
    r"|\b(?:can|could|would|will) (?:you|u) (?:please |pls |just )?(?:draft|write|write up|review|fill out|prepare) "
    r"mine\b"
)
"""Asking the bot to do legal work on the asker's own papers ("can you draft a trust for my parents house"), not
on their resume."""
_STATUS_OR_BENEFIT = (
    r"(?:status|f-?1|j-?1|h-?1b|h-?4|tps|daca|opt|(?:student |work |tourist )?visa|green card|work permit|benefits|"
    r"ssdi|ssi|snap|food stamps|medicaid|unemployment|disability)"
)
_MAY_I = r"(?=.*\b(?:can i|could i|am i allowed|may i|is it ok|will (?:it|that|this)|would (?:it|that|this)|affect))"
"""...when the question is what that status lets them do ("im on a student visa, is paralegal school hard" is not)."""
_ADVICE_CUES = re.compile(
    "|".join(
        (
            r"\b(?:can|could|should|would) i (?:legally|sue|win|press charges)\b",
            r"\b(?:would|will|could) (?:i|we|she|he|they) win\b",
            r"\b(?:am i|are we|is (?:she|he)|are they) (?:personally )?"
            r"(?:liable|in trouble|going to (?:jail|be sued|get sued|(?:be|get) in (?:\w+ )?trouble)"
            r"|gonna (?:get sued|go to jail))\b",
            r"\b(?:could|can|will|would) i (?:personally )?(?:be|get) (?:sued|arrested|charged|deported|evicted|"
            r"fined|fired|in (?:\w+ )?trouble)\b",
            r"\bam i (?:going to|gonna) (?:be |get )?(?:personally )?"
            r"(?:liable|sued|charged|arrested|fired|in (?:\w+ )?trouble)\b",
            r"\b(?:can|could|will|would) (?:they|he|she|the \w+|my \w+) sue me\b",
            r"\b(?:do|does) (?:i|she|he|they|my \w+) have (?:a|an) (?:\w+ ){0,2}(?:case|claim)\b",
            r"\bshould (?:i|we|she|he) (?:accept|sign|plead|settle|agree to|"
            r"take (?:the|their|his|her|this|that) (?:\w+ ){0,2}(?:plea|deal|settlement|offer))\b",
            r"\bhow (?:do|can) (?:i|we) get (?:it|the|my|this|that) (?:\w+ ){0,3}"
            r"(?:dismissed|expunged|sealed|dropped|reduced)\b",
            r"\b(?:will|would|could) my (?:\w+ ){0,2}(?:benefits|visa|status|green card|unemployment|snap|medicaid)\b",
            r"\b(?:roleplay|role-play|role play|pretend (?:to be|you'?re|youre)|act as my|use me as practice"
            r"|practice on me)\b",
            r"\bis (?:it|that|this) legal for (?:my|them|him|her)\b",
            r"\b(?:can|could|would|will) (?:you|u) (?:be|act as) (?:my|our)\b",
            r"\b(?:i'?m|i am) being (?:evicted|sued|deported|charged|harassed|foreclosed on|garnished)\b",
            r"\b(?:my|our) (?:\w+ ){0,2}(?:case|lawsuit|hearing|trial|charges|claim)\b",
            # A made-up exercise that is their own life: "for class, pretend my employer owes me 3 weeks of wages".
            r"\b(?:pretend|imagine|suppose|hypothetically|let'?s say) (?:that )?my (?:\w+ ){0,2}(?:employer|boss|"
            r"manager|landlord|ex|job|company|roommate|neighbou?r|school|husband|wife|dad|mom|parents?|brother|sister)\b",
            r"\b(?:they|he|she|my \w+) (?:want|wants|asked|asks|told|tells|make|makes|made|keeps?) me\b.*"
            r"\b(?:legal|allowed|fire me|fired)\b",
            # What to tell the people deciding their matter: "should i tell the judge im in school".
            r"\b(?:(?:should|do|would|can) i|i should) (?:tell|say to|mention (?:it )?to|show|admit to) (?:the |my )?"
            r"(?:judge|court|police|cops?|officers?|landlord|prosecutor|da|immigration|uscis|insurance|adjuster)\b",
            r"\bwhat (?:(?:should|do|can) i|to) (?:say|tell|write) (?:to )?(?:the |my )?"
            r"(?:judge|court|police|cops?|officers?|landlord|prosecutor|da|immigration|uscis|insurance|adjuster)\b",
            # Someone in their life laid down the law, and they ask if it holds: "the firm says i cant keep copies of
            # my briefs, are they right".
            r"\b(?:says|said|claims?|claimed|told me|tells me|insists?) (?:that )?i (?:can'?t|cannot|have to|must|owe|"
            r"am not allowed|'?m not allowed|im not allowed)\b.*\b(?:right|true|legal|allowed|correct|do that)\b",
            # Not knowing what to do about something that came to them: "i got a summons yesterday and dont know what
            # to do with it", or comparing it to others: "do paralegals deal with cases like mine".
            r"\b(?:don'?t|dont|do not|no idea) (?:know )?what to do (?:with|about) (?:it|this|that|them)\b",
            r"\b(?:cases?|situations?|problems?) like mine\b",
            # Their own standing at work: "they say i'm exempt, am i actually exempt?"
            r"\bam i (?:actually |really |legally )?(?:exempt|misclassified|an independent contractor|"
            r"entitled to|owed)\b",
            # Looking for someone to take on their matter: "where can i find a paralegal to help with my immigration
            # papers" (not "do i need a paralegal certificate for my job").
            r"\b(?:find|hire|get|recommend|need) (?:me )?(?:a|an) (?:good |cheap |free |local )?(?:\w+ )?"
            r"(?:paralegal|legal assistant|legal secretary|lawyer|attorney)"
            r"(?! (?:certificate|certification|degree|program|job|course|school|class|license|position|role))"
            r"\b(?=.*\b(?:my|me|mine)\b)",
            # What a role would tell them: "what would a family law paralegal tell me to do".
            r"\bwhat would (?:a|an|my|your|the) (?:\w+ ){0,3}"
            r"(?:paralegal|legal secretary|legal assistant|lawyer|attorney)s? (?:tell|advise|recommend|suggest|say to) "
            r"(?:me|us)\b",
            # Acting on it: "can i speed it up", "how do i actually get it".
            r"\b(?:can|could|how (?:can|do)) (?:i|we) (?:actually |even )?"
            r"(?:speed (?:it|this|that) up|(?:speed up|delay|stop|fight|appeal|challenge|get out of|break|cancel|undo|"
            r"reverse|contest|dispute|get|collect|recover) (?:it|this|that|them|back)\b(?! (?:certified|done)))",
            # Someone to stand in for them: "can a paralegal come to court with me and talk to the judge for me".
            r"\b(?:represent|come to court with|go to court (?:with|for)|talk to the judge for|speak for|appear for|"
            r"stand in for) (?:me|us)\b",
            r"\b(?:should i|would it be (?:wise|advisable|better|smart) (?:for me )?to|is it (?:better|smarter|wise) "
            r"(?:for me )?to) (?:hire|retain|use|get|go with) (?:a|an)\b",
            # Whether their papers hold: "is it even valid if a secretary sent it", "is the transfer valid".
            r"\bis (?:it|this|that|the \w+|my \w+) (?:even |still |legally )?"
            r"(?:valid|binding|enforceable)\b",
            # "what should i do in response", "what do i do now".
            r"\bwhat (?:should|do|can) (?:i|we) do"
            r"(?: (?:now|next|in response|about (?:it|this|that)|here))?\s*(?:\?|$)",
            # Papers that came to them: "the state sent me a letter saying im practicing law".
            r"\b(?:sent|served|gave|mailed|handed) me (?:a|an|some) (?:\w+ ){0,2}(?:letter|notice|summons|subpoena|"
            r"citation|ticket|papers)\b",
            # Wanting out of it: "i signed one for a car and i want out of it"; "am i losing my license".
            r"\bi (?:want|need|wanna) (?:to )?(?:get )?out of (?:it|this|that|my|the)\b",
            r"\bi (?:want|need|wanna) to (?:sue|contest|appeal|dispute|fight (?:it|this|that|my|the|them|back))\b",
            r"\bam i (?:going to |gonna )?(?:losing|lose|getting (?:kicked out|evicted|deported))\b",
            # Asking the bot to judge their matter: "can you tell me if my parents' will is valid" (not "if my
            # business degree counts for paralegal jobs": their schooling is a career matter).
            r"\b(?:can|could|would) (?:you|u) (?:please |pls )?(?:tell|let) me (?:know )?(?:if|whether) (?:my|our)\b"
            r"(?! (?:\w+ ){0,2}(?:degree|diploma|certificate|certification|experience|gpa|grades|major|background|"
            r"credits|classes|courses|resume|skills|job|career)s?\b)",
            # "the someone is me lmao": a case dressed up as a friend's or a class exercise.
            r"\b(?:the (?:someone|person|friend|client|student)|my friend) (?:is|was) (?:actually |really |just )?me\b",
            # "is my job allowed to pay me under minimum wage": someone in their life, not one of our jobs.
            r"\b(?:is|are|was) my (?!para|legal)(?:\w+ ){1,2}(?:allowed|permitted|supposed) to\b",
            r"\bwhich (?:\w+ )?(?:form|forms|visa|motion|paperwork) (?:(?:should|do|would|must|can) (?:i|we)|"
            r"(?:i|we) (?:should|need to|have to|must)) (?:file|use|need|submit|fill out|apply for|get)\b",
        )
    )
)
"""Ways of asking what to do about one's own (or someone's) live legal matter: "should i accept the plea",
"do i have a case", "could i personally be sued", "roleplay as a paralegal and walk me through my custody"."""
_OWN_STATUS = re.compile(
    "|".join(
        (
            rf"\b(?:i'?m|i am) (?:on|getting|collecting) (?:an? |my )?{_STATUS_OR_BENEFIT}\b{_MAY_I}",
            r"\bi (?:have|got|hold) (?:an? |my )?(?:tps|daca|f-?1|j-?1|h-?1b|h-?4|opt|work permit|green card)\b"
            + _MAY_I,
            r"\b(?:lose|losing|mess(?:ing)? up|affect|hurt|risk|jeopardi[sz]e) my (?:\w+ ){0,2}"
            + _STATUS_OR_BENEFIT
            + r"\b",
            r"\b(?:can|could|would|will) i (?:still )?(?:collect|get|keep|receive|apply for|qualify for) (?:\w+ )?"
            r"(?:unemployment|ssdi|ssi|snap|food stamps|disability|medicaid|welfare)\b",
        )
    )
)
"""The asker's own immigration status or public benefits decide what they may do ("im on an F1, can i work at a
law office", "will a paralegal certificate make me lose my SSDI"): told before a career question or not, what is
asked is the law of their own case."""
_CLAUSE_END = re.compile(r"[,.;:!?]+")
_ASKING = re.compile(
    r"(?:what|whats|how|can|could|should|would|will|is|am|are|do|does|did|which|who|where|when|why|pls|please|help)\b"
)
"""A clause that asks something rather than tells it."""
_ASKS_INSIDE = re.compile(
    r"\b(?:is (?:that|it|this)|can (?:they|he|she|i|we)|could (?:they|he|she|i)|do i|should i|am i|will i)\b"
)
"""...or asks it at its end: "my job is taking money out of my check, is that legal"."""
_QUESTION_BREAK = re.compile(
    r"[?.!;]+|\balso\b|\b(?:separate|unrelated|another|different|other|second) (?:question|q|thing)\b"
)
_ADDED = re.compile(r"^(?:(?:and|but|also|ok|okay|so|plus|unrelated|totally|random|quick|question|q|btw|oh)\b[\s,:]*)+")
"""Words that only join a second question to the first: "also unrelated but", "and btw"."""
_LIVE = re.compile(
    r"\b(?:(?:is|are|am|im|i'm|was|were) (?:being |getting )?\w+ing|keeps?|wont|won't|will|going to|gonna|right now|"
    r"currently|still|tomorrow|tonight|next (?:week|month)|this (?:week|month)|"
    r"on (?:mon|tues|wednes|thurs|fri|satur|sun)day)\b"
)
"""A matter going on now or coming ("my landlord is evicting me on friday"), not one gone through."""
_QUOTED = re.compile(r"(?<!\w)'[^']{3,}'(?!\w)|\"[^\"]{3,}\"|“[^”]{3,}”")
"""Quoted speech; an apostrophe inside a word ("i'm", "it's") opens or closes nothing."""
_ASKER = frozenset({"i", "me", "my", "mine", "myself", "im", "ive", "id", "us", "our", "it", "this", "that"})
"""Words that point a question at the asker or their matter: "can you help me with it" is not a question about
the bot, "what else can you help with" is."""
_OWN_THINGS = frozenset({"my", "mine", "our", "ours", "myself"})
_SELF = _OWN_THINGS | {"i", "me"}
"""Words by which someone speaks of themselves and what is theirs."""
_THE_BOT = frozenset({"you", "u", "your", "ur", "bot", "chatbot", "this", "advisor"})
_PERSONAL = frozenset({"i", "me", "my", "mine", "myself", "im", "ive", "id", "you", "your", "youre"})
_FILLER = frozenset(
    {"ok", "okay", "now", "same", "question", "thing", "one", "ones", "too", "also", "then", "again", "please", "for"}
    | {"about", "but", "there", "instead", "oh", "hmm", "hm", "um", "uh", "wait", "sorry", "sry", "mean", "actually"}
    | {"well", "yeah", "yes", "cool", "thanks", "thx", "ty", "lol", "bout", "abt"}
)
"""Words that carry no topic in a follow-up: "ok now legal assistants", "same question for legal secs", "oh
paralegals sorry", "legal secretary i mean", "what about legal secretaries there"."""
_MOVING_ON = re.compile(
    r"\b(?:they|he|she|we|you|u|i|one|someone)\b (?:\w+ ){0,3}"
    r"(?:become|becoming|move up to|move into|moving up to|switch to|switching to|transition to|go on to be|"
    r"turn into)\b"
)
"""A job as where someone goes from the one talked about: "can they become paralegals later"."""
_ROLE_AS_ADVISER = re.compile(
    r"\b(?:answer|respond|reply|talk|speak|pretend|act) (?:like|as)\b|"
    r"\bwould (?:\w+ ){1,3}(?:say|write|tell|do|recommend|suggest|advise|think|answer|handle|respond|reply)\b"
)
"""Asking what one of our roles would say or do, after a declined request: the same request in other words."""
_CONTRAST = re.compile(r"\b(?:vs\.?|versus|compared?|comparison|difference|different|differ)\b")
"""Setting one thing against another: "vs paralegals?", "how is that different from a legal assistant"."""
_MEANING_CANDIDATES = 12
_ENTRY = "e:"
_TOPIC = "t:"
_INTENT = "i:"


def _asks_about_own_matter(text: str) -> bool:
    """Worded as asking what to do about a matter, or asking us to do legal work on it."""
    return _ADVICE_CUES.search(_QUOTED.sub(" ", text)) is not None or _ASKS_FOR_LEGAL_WORK.search(text) is not None


def _goes_to_another_job(q: _Question) -> bool:
    """ "how do i become a court reporter instead", in a conversation about legal secretaries: the other job is
    where the person would go, so the question is about it ("do they work with court reporters" is not)."""
    jobs = "|".join(re.escape(job) for job in q.finding.other_jobs)
    return (
        re.search(
            rf"\b(?:become|becoming|be|being|switch(?:ing)? to|go(?:ing)? into|work(?:ing)? as|study(?:ing)? to be) "
            rf"(?:an? )?(?:{jobs})s?\b|\b(?:{jobs})s? instead\b",
            q.text,
        )
        is not None
    )


def _only_names_another_job(q: _Question) -> bool:
    """ "and what about lawyers?": another job and nothing else that could carry a topic."""
    job_words = {word for job in q.finding.other_jobs for word in job.split()}
    return bool(job_words) and all(w in _FILLER or w in job_words for w in q.content_words)


@dataclass
class _Scores:
    entry: dict[str, float] = field(default_factory=dict)
    topic: dict[str, float] = field(default_factory=dict)
    intent: dict[str, float] = field(default_factory=dict)
    predicted: dict[str, float] = field(default_factory=dict)
    """Topic scores of a learned topic model: ``WordTopicModel`` for words, ``TopicModel`` for meaning."""
    by_role_name: set[str] = field(default_factory=set)
    """Entries whose best-matching phrasing named a role (so its specificity came from the name)."""

    def career(self) -> float:
        return max([*self.entry.values(), *self.topic.values(), 0.0])

    @classmethod
    def of(cls, by_label: dict[str, float]) -> _Scores:
        scores = cls()
        for label, score in by_label.items():
            target = {_ENTRY: scores.entry, _TOPIC: scores.topic, _INTENT: scores.intent}[label[:2]]
            target[label[2:]] = score
        return scores


@dataclass(frozen=True)
class _Question:
    """One question as the decision sees it."""

    text: str
    finding: RoleFinding
    content_words: list[str]
    scores: _Scores
    meaning: _Scores | None
    guess: IntentGuess
    follow_up: bool
    about_role: bool
    """A role is named, or carried over from the conversation."""
    role_bonus: float
    names_a_job: bool
    """It points at a job without naming it ("that career", "these roles")."""

    @property
    def career(self) -> float:
        return self.scores.career()

    @property
    def career_evidence(self) -> float:
        # Naming one of our roles is strong evidence of a career question; examples of other intents rarely do.
        return self.career + (self.role_bonus if self.about_role else 0.0)

    @property
    def legal(self) -> float:
        return self.scores.intent.get("legal_advice", 0.0)

    @property
    def out_of_scope(self) -> float:
        return self.scores.intent.get("out_of_scope", 0.0)

    @property
    def quiz(self) -> float:
        return self.scores.intent.get("quiz", 0.0)

    @property
    def help(self) -> float:
        return self.scores.intent.get("help", 0.0)


class Matcher:
    def __init__(
        self,
        kb: KnowledgeBase,
        thresholds: Thresholds | None = None,
        encoder: Encoder | bool | None = True,
    ) -> None:
        """``encoder``: True for the installed sentence-embedding model (if any), None or False for words alone."""
        self.kb = kb
        self.thresholds = thresholds or Thresholds()
        self.roles = RoleFinder(kb.roles, kb.intents.other_occupations)
        self._all_roles = tuple(kb.role_ids())
        self._entries = {entry.id: entry for entry in kb.entries}
        self._order = {entry.id: index for index, entry in enumerate(kb.entries)}
        self._by_topic: dict[str, list[Entry]] = {}
        for entry in kb.entries:
            self._by_topic.setdefault(entry.topic.value, []).append(entry)
        documents: list[tuple[str, str]] = []
        self._names_role: set[int] = set()
        """Documents whose phrasing named a role before the name was taken out."""
        for entry in kb.entries:
            for text in (entry.question, *entry.phrasings):
                finding = self.roles.find(text)
                if finding.roles:
                    self._names_role.add(len(documents))
                documents.append((_ENTRY + entry.id, finding.rest))
        for topic in kb.topics:
            for text in topic.phrasings:
                documents.append((_TOPIC + topic.topic.value, self.roles.strip_names(text)))
        for intent in ("legal_advice", "out_of_scope", "quiz", "help"):
            for text in getattr(kb.intents, intent):
                documents.append((_INTENT + intent, self.roles.strip_names(text)))
        self.index = SimilarityIndex(documents)
        topical = [i for i, (label, _) in enumerate(documents) if label.startswith((_ENTRY, _TOPIC))]
        topics = [self._topic_of(documents[i][0]) for i in topical]
        self.word_topic_model = WordTopicModel(self.index, topical, topics) if len(set(topics)) > 1 else None
        self.intents = IntentClassifier(kb)
        self._takes_duties_questions = [
            (
                topic.topic,
                re.compile(r"\b(?:" + "|".join(re.escape(w.lower()) for w in topic.duties_questions_naming) + r")\b"),
            )
            for topic in kb.topics
            if topic.duties_questions_naming
        ]
        chosen = default_encoder() if encoder is True else encoder or None
        self.semantic = (
            SemanticIndex(documents, chosen, EmbeddingCache(chosen.model_id)) if chosen is not None else None
        )
        self.topic_model = self._topic_model() if self.semantic is not None else None

    # -- scoring -----------------------------------------------------------------------------------------

    def _topic_of(self, label: str) -> str:
        return self._entries[label[len(_ENTRY) :]].topic.value if label.startswith(_ENTRY) else label[len(_TOPIC) :]

    def _score(self, rest: str) -> _Scores:
        best = self.index.best_by_label(rest)
        scores = _Scores.of({label: n.score for label, n in best.items()})
        if self.word_topic_model is not None:
            scores.predicted = self.word_topic_model.scores(rest)
        scores.by_role_name = {
            label[len(_ENTRY) :] for label, n in best.items() if label.startswith(_ENTRY) and n.doc in self._names_role
        }
        return scores

    def _topic_model(self) -> TopicModel | None:
        assert self.semantic is not None
        vectors, topics = [], []
        for label, rows in self.semantic.vectors_by_label():
            topic = self._entries[label[2:]].topic.value if label.startswith(_ENTRY) else label[2:]
            if label.startswith((_ENTRY, _TOPIC)):
                vectors.append(rows)
                topics.extend([topic] * len(rows))
        return TopicModel(np.concatenate(vectors), topics) if len(set(topics)) > 1 else None

    def _meaning(self, rest: str, content_words: list[str]) -> _Scores | None:
        if self.semantic is None or not content_words:
            return None
        vector = self.semantic.encode(rest)
        scores = _Scores.of(self.semantic.best_by_label(vector))
        if self.topic_model is not None:
            scores.predicted = self.topic_model.scores(vector)
        return scores

    def _role_term(self, entry: Entry, roles: tuple[str, ...]) -> float:
        if not roles:
            return 0.0
        wanted, covered = set(roles), set(entry.roles)
        overlap = len(wanted & covered)
        if overlap == 0:
            return -self.thresholds.role_mismatch
        return self.thresholds.role_match * overlap / len(wanted | covered)

    def _entry_score(self, entry: Entry, scores: _Scores, roles: tuple[str, ...]) -> float:
        own = scores.entry.get(entry.id, 0.0)
        shared = scores.topic.get(entry.topic.value, 0.0)
        return max(own, shared) + self._role_term(entry, roles)

    # -- decision ----------------------------------------------------------------------------------------

    def match(self, question: str | None, context: ConversationContext | None = None) -> Match:
        context = self._usable(context or ConversationContext())
        cleaned = clean_question(self.roles.spell_out(question) if question else question)
        if not cleaned.text:
            return Match(Kind.HELP, confidence=1.0, truncated=cleaned.truncated)
        said = words(cleaned.text)
        if len(said) == 1 and edit_distance_at_most(said[0], "help", 1):
            # "hlep", "hepl", "hel": the one word a lost user types, mistyped.
            return Match(Kind.HELP, confidence=0.9, truncated=cleaned.truncated)
        if _THANKING.intersection(said) and all(w in _THANKING or w in _ALONG_WITH_THANKS for w in said):
            return Match(Kind.THANKS, confidence=1.0, truncated=cleaned.truncated)
        q = self._read(cleaned.text, context, self.roles.credited_roles(question) if question else ())
        t = self.thresholds
        finding, scores, meaning, guess = q.finding, q.scores, q.meaning, q.guess
        content_words, follow_up = q.content_words, q.follow_up

        def non_answer(kind: Kind, confidence: float, suggestions: tuple[str, ...] = ()) -> Match:
            return Match(
                kind,
                confidence=round(min(max(confidence, 0.0), 1.0), 3),
                suggestions=suggestions,
                truncated=cleaned.truncated,
            )

        def threshold_for(roles: tuple[str, ...]) -> float:
            return t.answer_named if roles else t.answer

        # "what else can you do" asks about the bot; "can you tell me what to do" asks it about their matter.
        asks_about_the_bot = bool(_THE_BOT.intersection(finding.words)) and not _ASKER.intersection(finding.words)
        own_matter_goes_on = context.after_legal_advice and not asks_about_the_bot
        # "how do i get started in that career" shares "get started" with help requests, but asks about a job.
        if (
            q.help >= t.sure_help
            and not q.about_role
            and not q.names_a_job
            and guess.kind != "quiz"
            and not own_matter_goes_on
        ):
            return non_answer(Kind.HELP, q.help)
        # Safety first: anything that looks like a request for legal advice is declined, even when it also
        # resembles a career question.
        legal_confidence = self._legal_advice(q)
        if legal_confidence is None and q.about_role:
            legal_confidence = self._legal_question_added(cleaned.text)
        if legal_confidence is not None:
            return non_answer(Kind.LEGAL_ADVICE, legal_confidence)
        meaning_quiz = self._meaning_intent(q, "quiz", named_ok=finding.named_group)
        # As for legal advice, a classifier call by a hair ("which of these pays best" shares "which of these" with
        # "which of these suits me") does not overrule a plainly career meaning.
        narrow_quiz_call = (
            meaning is not None
            and guess.margin < t.classifier_narrow_margin
            and meaning.career() >= meaning.intent.get("quiz", 0.0) + t.classifier_career_veto
        )
        # Two of our roles named ("is legal sec or legal assistant closer to typing and scheduling") asks us to
        # set them side by side, unless the quiz is asked for by name.
        weighing_two = len(finding.roles) == 2 and not finding.named_group and not _QUIZ_ASKED.search(cleaned.text)
        if not weighing_two and (
            (guess.kind == "quiz" and q.quiz >= t.classifier_quiz and not narrow_quiz_call)
            or (q.quiz >= t.intent and q.quiz >= max(q.career_evidence, q.help, q.out_of_scope))
            or meaning_quiz is not None
            or (not finding.roles and _CHOOSING_FOR_ME.search(cleaned.text) is not None)
        ):
            return non_answer(Kind.QUIZ, max(q.quiz, meaning_quiz or 0.0))
        if own_matter_goes_on and not self._back_to_careers(q):
            # "so can he do that", "what are my options", "answer like a legal secretary would then": still the
            # person's own matter, however it is worded.
            return non_answer(Kind.LEGAL_ADVICE, max(q.legal, guess.margin if guess.kind == "legal_advice" else 0.0))
        meaning_help = self._meaning_intent(q, "help", named_ok=False)
        if (
            (guess.kind == "help" and not q.about_role)
            # "and paralegals, what do they start at" shares "start" with "get started": a role named in the
            # message makes it a question about that role, whatever its words share with help requests.
            or (
                q.help >= t.intent
                and q.help >= max(q.career_evidence, q.out_of_scope)
                and not finding.roles
                and not q.names_a_job
            )
            or meaning_help is not None
        ):
            return non_answer(Kind.HELP, max(q.help, meaning_help or 0.0))
        off_topic_confidence = self._off_topic(q)
        if off_topic_confidence is not None:
            if finding.other_jobs and not finding.roles:
                # "how much do lawyers make" is declined, but its topic is kept for "and paralegals?".
                if context.topic and _only_names_another_job(q):
                    asked = Topic(context.topic)
                else:
                    asked = self._rank(scores, (), meaning)[0].topic
                return replace(non_answer(Kind.OUT_OF_SCOPE, off_topic_confidence), topic=asked)
            return non_answer(Kind.OUT_OF_SCOPE, off_topic_confidence)

        roles = finding.roles
        used_context = False
        if not roles and follow_up and context.roles:
            roles = context.roles
            used_context = True

        ranked = self._rank(scores, roles, meaning)
        best = ranked[0]
        best_score = self._entry_score(best, scores, roles) - self._role_term(best, roles)
        if meaning is None:
            # Words alone: a phrasing of another role's entry on the chosen topic is as good evidence that the
            # question is on that topic (role names are taken out of both), as the meaning check below is with
            # the model installed.
            best_score = max(best_score, *(scores.entry.get(e.id, 0.0) for e in ranked if e.topic == best.topic))
        semantic_bar = t.semantic_answer_named if roles else t.semantic_answer
        understood = meaning is not None and self._entry_score(best, meaning, ()) >= semantic_bar
        if understood:
            # Few shared words but the same meaning ("what do they bring home" ~ "what is the pay").
            best_score = max(best_score, threshold_for(roles))
        if (
            follow_up
            and finding.roles
            and context.roles
            and not set(finding.roles) & set(context.roles)
            and _MOVING_ON.search(cleaned.text)
        ):
            # "can they become paralegals later" after a question about legal secretaries: from one to the other.
            roles = tuple(dict.fromkeys((*context.roles, *finding.roles)))
            return self._answer_for(roles, Topic.CAREER_PATH, None, best_score, cleaned.truncated, True)
        topic_words = [w for w in content_words if w not in _FILLER]
        if roles and (
            (best_score < t.weak_topic and (not content_words or follow_up))
            # Only filler besides the role ("same question for legal secs", "and for a paralegal?"); but a question
            # made of stop words alone that does not open as a follow-up ("what does a paralegal do?") is a new
            # question, however short, with a topic of its own.
            or (
                follow_up
                and context.topic
                and finding.roles
                and not topic_words
                and (content_words or cleaned.text.startswith(_FOLLOW_UP_OPENERS))
            )
        ):
            # Just a role name ("paralegal?", "what about legal secs", "same question for legal assistants"):
            # continue the topic or give the overview.
            topic = Topic(context.topic) if follow_up and context.topic else Topic.OVERVIEW
            return self._answer_for(roles, topic, None, 0.8 if finding.roles else 0.6, cleaned.truncated, used_context)
        if (
            follow_up
            and finding.roles
            and context.roles
            and not set(finding.roles) & set(context.roles)
            and (
                (best.topic == Topic.COMPARISON and _CONTRAST.search(cleaned.text))
                or cleaned.text.startswith(("vs ", "vs.", "versus", "compared to", "compared with"))
            )
        ):
            # "vs paralegals?" after a question about legal secretaries sets the new role against the old one.
            roles = tuple(dict.fromkeys((*context.roles, *finding.roles)))
            return self._answer_for(roles, Topic.COMPARISON, None, best_score, cleaned.truncated, True)
        threshold = threshold_for(roles)
        if best_score < threshold:
            suggestions = tuple(dict.fromkeys(e.id for e in ranked[:6]))[:3] if best_score >= t.suggest else ()
            return non_answer(Kind.OUT_OF_SCOPE, best_score, suggestions)
        if not roles:
            return self._roleless(best, ranked, scores, meaning, finding.named_group, understood, cleaned.truncated)
        if (
            len(finding.roles) == 2
            and not finding.named_group
            and best.topic not in _OWN_ANSWER_WHEN_COMPARED
            and _COMPARING.search(cleaned.text)
        ):
            # Two roles set side by side ("who gets paid more, a paralegal or a legal secretary?") is a comparison;
            # the comparison entries cover pay and duties of both. Moving between them, schooling, credentials
            # and outlook have their own two-role answers.
            return self._answer_for(roles, Topic.COMPARISON, None, best_score, cleaned.truncated, used_context)
        # "what does a paralegal do at an immigration firm" asks about the area; "do legal assistants prepare
        # bankruptcy schedules" asks whether the job includes one task, which is duties wherever it is done.
        if best.topic == Topic.DUTIES and not _YES_NO_TASK.match(cleaned.text):
            for topic, naming in self._takes_duties_questions:
                if naming.search(cleaned.text):
                    return self._answer_for(roles, topic, None, best_score, cleaned.truncated, used_context)
        if len(roles) == 1 and best.topic == Topic.COMPARISON:
            # Comparison answers set our roles side by side. With one role named, what is set side by side is
            # something else ("legal secretary at a courthouse vs at a law firm", "trademark vs patent paralegal"):
            # the best answer on another topic says more than a comparison with a role nobody asked about.
            best = next((e for e in ranked if e.topic != Topic.COMPARISON), best)
        return self._answer_for(roles, best.topic, best, best_score, cleaned.truncated, used_context)

    def _read(self, text: str, context: ConversationContext, credited: tuple[str, ...] = ()) -> _Question:
        """Everything the decision looks at: role slot, word scores, meaning scores, the intent classifier.
        ``credited``: roles whose credentials the question names as written ("what is the PLS"), which stand for
        the role when it names none; the credential stays in the words, where it says "certification"."""
        finding = self.roles.find(text)
        if credited and not finding.roles:
            finding = replace(finding, roles=credited)
        content_words = [w for w in expand_chat(finding.rest.split()) if w not in STOP_WORDS]
        named = bool(finding.roles)
        # In a conversation about a role, a question naming no role is about that role, however long it is
        # ("do they work on custody cases", "could i end up running docketing"), unless it is off-topic or
        # legal advice, which the checks still catch.
        continues_role = bool(context.roles) and not named
        follow_up = bool(context.roles or context.topic) and (
            len(content_words) <= 4 or text.startswith(_FOLLOW_UP_OPENERS) or continues_role
        )
        about_role = named or (follow_up and bool(context.roles))
        return _Question(
            text=text,
            finding=finding,
            content_words=content_words,
            scores=self._score(finding.rest),
            meaning=self._meaning(finding.rest, content_words),
            guess=self.intents.classify(text),
            follow_up=follow_up,
            about_role=about_role,
            role_bonus=self.thresholds.role_bonus,
            names_a_job=_JOB_REFERENCE.search(text) is not None,
        )

    def _legal_advice(self, q: _Question) -> float | None:
        """The confidence that this is a request for legal advice, or None when it is not one."""
        t, guess, meaning = self.thresholds, q.guess, q.meaning
        # With one of our roles named (or carried over from the conversation), a question is about the job
        # ("can a legal assistant go to court?") unless the person talks about their own matter ("as a paralegal
        # student, should I ... my divorce").
        personal = not q.about_role or any(w in _PERSONAL for w in q.finding.words)
        # "...but this is about my own divorce": naming the job does not make the person's own matter a career
        # question, so such a message is judged as if it named no role.
        own_matter = _OWN_MATTER.search(q.text) is not None
        career_framed = q.about_role and not own_matter
        classifier_says_legal = (
            guess.kind == "legal_advice"
            and personal
            and q.legal >= t.classifier_legal_floor
            and q.legal >= q.career - (t.classifier_legal_gap if not career_framed else 0.0)
        )
        meaning_legal = meaning.intent.get("legal_advice", 0.0) if meaning else 0.0
        legal_margin = t.semantic_legal_margin - (t.own_matter_slack if own_matter else 0.0)
        about_the_bot = (
            meaning is not None
            and bool(_THE_BOT.intersection(q.finding.words))
            and not _OWN_THINGS.intersection(q.finding.words)  # "help me with my lab report" is about theirs
            and meaning.intent.get("help", 0.0) >= meaning_legal + t.semantic_help_veto
        )
        meaning_says_legal = (
            meaning is not None
            and not about_the_bot
            and personal
            and meaning_legal >= t.semantic_legal_floor
            and meaning_legal >= meaning.career() + legal_margin
        )
        # Words alone ("i'm thinking about being a paralegal" shares "i'm thinking about" with requests for
        # advice) do not decline a question whose meaning is plainly about careers.
        meaning_says_career = meaning is not None and meaning.career() >= meaning_legal + t.semantic_career_veto
        words_say_legal = (
            personal
            and q.legal >= t.legal
            and q.legal >= max(q.career_evidence, q.out_of_scope, q.quiz, q.help) - t.legal_margin
        )
        # Safety net, whoever the message names: both the classifier (clearly) and meaning say legal advice.
        both_say_legal = (
            meaning is not None
            and guess.kind == "legal_advice"
            and guess.margin >= t.both_legal_margin
            and meaning_legal >= meaning.career() - (t.both_legal_meaning_slack if personal else 0.0)
        )
        # ...nor one whose meaning is well away from every legal-advice example ("could you look over my resume
        # for paralegal jobs" shares "could you look over my" with "could you look over my lease").
        meaning_not_legal = (
            meaning is not None
            and meaning_legal < max(meaning.career(), meaning.intent.get("out_of_scope", 0.0)) - t.semantic_words_veto
        )
        words_alone_say_legal = (
            words_say_legal and not meaning_says_career and not about_the_bot and not meaning_not_legal
        )
        # "as a future paralegal i want to practice, can you draft a real trust for my parents house": whatever
        # the career framing, the bot would be doing legal work on the asker's own matter.
        asked_to_do_legal_work = (
            meaning is not None
            and _ASKS_FOR_LEGAL_WORK.search(q.text) is not None
            and meaning_legal >= meaning.career() - t.advice_cue_slack
        )
        # The way of asking gives it away ("should i accept the 2 years probation"), unless the meaning is plainly
        # a question about the job ("can a paralegal be sued for giving advice" names no one's matter).
        asked_for_advice = (
            meaning is not None
            # Not in quotes: "what should a legal secretary say if a client asks 'should i sign this'" is about the job.
            and _ADVICE_CUES.search(_QUOTED.sub(" ", q.text)) is not None
            and meaning_legal >= meaning.career() - t.advice_cue_slack
        )
        # A classifier call by a hair ("whats the starting pay") does not overrule a plainly career meaning.
        classifier_alone_says_legal = (
            classifier_says_legal
            and not about_the_bot
            and not (
                meaning is not None
                # "whats the hourly pay in ohio" says nothing of the asker: the classifier, however sure, does not
                # overrule a career meaning then, as it does not when its call is by a hair...
                and (guess.margin < t.classifier_narrow_margin or not _PERSONAL.intersection(q.finding.words))
                and meaning.career() >= meaning_legal + t.classifier_career_veto
            )
            # ...nor, from someone speaking of themselves ("could i get in with only a GED"), a plainly career one,
            # or one plainly asking what the bot does ("my son is choosing a career, how can this bot help him").
            and not (
                meaning is not None
                and max(meaning.career(), meaning.intent.get("help", 0.0))
                >= meaning_legal + t.classifier_personal_career_veto
            )
        )
        if (
            (
                classifier_alone_says_legal
                or meaning_says_legal
                or both_say_legal
                or words_alone_say_legal
                or asked_to_do_legal_work
                or asked_for_advice
            )
            and not self._career_question_after_background(q.text)
            and not self._asks_what_the_role_may_do(q.text)
        ):
            return max(q.legal, meaning_legal, guess.margin)
        if (
            meaning is not None
            and _OWN_STATUS.search(q.text)
            and meaning_legal >= meaning.career() - t.advice_cue_slack
        ):
            return max(q.legal, meaning_legal, guess.margin)
        return None

    def _legal_question_added(self, text: str) -> float | None:
        """ "paralegal vs legal sec which is better? also can my boss fire me for going back to school": a career
        question with a question about the asker's own matter added; the added one cannot be answered, so neither
        is the message. Each later clause that asks something of the asker's own and names no role is judged on
        its own, and only a clear call counts: a way of asking about one's matter, or the classifier and meaning
        both saying legal advice."""
        clauses = [c.strip() for c in _QUESTION_BREAK.split(text) if c.strip()]
        for clause in clauses[1:]:
            clause = _ADDED.sub("", clause)
            if not ((_ASKING.match(clause) or _ASKS_INSIDE.search(clause)) and _SELF.intersection(clause.split())):
                continue
            part = self._read(clause, ConversationContext())
            if part.finding.roles or part.finding.named_group or part.meaning is None:
                continue
            meaning_legal = part.meaning.intent.get("legal_advice", 0.0)
            if (
                _asks_about_own_matter(clause)
                or _OWN_STATUS.search(clause)
                or (
                    part.guess.kind == "legal_advice"
                    and meaning_legal >= part.meaning.career() + self.thresholds.added_question_legal_margin
                )
            ):
                return max(part.legal, meaning_legal)
        return None

    def _back_to_careers(self, q: _Question) -> bool:
        """After a declined request, naming a role ("ok, what do paralegals make then") or the job ("how much does
        the job pay") is how the person comes back to careers, unless they ask what the role would say or do about
        their matter ("what would a legal assistant write to the judge then"). So is a question plainly about the
        job: "fair enough. is it stressful tho", or, said of themselves, "what certifications should i get". "can he
        do that?" and "how much would i get back" go on with their matter."""
        if q.finding.roles or q.finding.named_group or q.names_a_job:
            return _ROLE_AS_ADVISER.search(q.text) is None
        meaning = q.meaning
        if meaning is None:
            return False
        t = self.thresholds
        margin = (
            t.after_legal_personal_margin if _PERSONAL.intersection(q.finding.words) else t.after_legal_career_margin
        )
        return meaning.career() >= meaning.intent.get("legal_advice", 0.0) + margin

    def _asks_what_the_role_may_do(self, text: str) -> bool:
        """ "as a paralegal would i be allowed to help my own family with their immigration forms": what the
        person could do in the job is a question about its rules, unless they ask about a matter of their own."""
        speaking = _AS_THE_ROLE.search(text)
        if speaking is None or not self.roles.find(speaking.group("after")).roles:
            return False
        if _MAY_I_AT_WORK.search(text) is None or _NAMED_OWN_MATTER.search(text):
            return False
        # The asking of leave ("would i get in trouble") is itself worded like asking about a matter; what else
        # the message says decides.
        rest = _MAY_I_AT_WORK.sub(" ", text)
        return not (_asks_about_own_matter(rest) or _OWN_STATUS.search(rest))

    def _career_question_after_background(self, text: str) -> bool:
        """ "my paralegal helped me so much during my DUI case, what is a paralegal exactly": what the person went
        through is told, not asked about, and the one thing asked, last, is plainly about one of our jobs."""
        clauses: list[tuple[str, bool]] = []  # (clause, whether a question mark ends it)
        start = 0
        for mark in (*_CLAUSE_END.finditer(text), None):
            end = mark.start() if mark else len(text)
            clause = text[start:end].strip()
            if clause and not all(w in _FILLER for w in clause.split()):  # a trailing "thx" or "lol" asks nothing
                clauses.append((clause, bool(mark and "?" in mark.group())))
            start = mark.end() if mark else end
        if len(clauses) < 2:
            return False
        *told, (asked, _) = clauses
        if any(question or _ASKING.match(clause) or _LIVE.search(clause) for clause, question in told):
            return False
        # "...is it ok if a paralegal does my application": the question asked is about something of theirs.
        if _asks_about_own_matter(asked) or _OWN_MATTER.search(asked) or _OWN_THINGS.intersection(asked.split()):
            return False
        finding = self.roles.find(asked)
        if not (finding.roles or finding.named_group):
            return False
        # Only the meaning of the clause is needed, not its word scores or the classifier's call.
        meaning = self._meaning(finding.rest, [w for w in expand_chat(finding.rest.split()) if w not in STOP_WORDS])
        if meaning is None:
            # Nothing but the role and small words: "what does a legal secretary do", "what is a paralegal".
            return asked.startswith(("what", "who"))
        return meaning.career() >= meaning.intent.get("legal_advice", 0.0) + self.thresholds.background_career_margin

    def _meaning_intent(self, q: _Question, intent: str, named_ok: bool) -> float | None:
        """The meaning score of ``intent`` (quiz, help) when it is clearly nearer that intent's examples than any
        career phrasing ("which job should i pick, i like research"; "how does this work"), else None. Only for
        questions about no single role: "is paralegal right for me" is a question about that job."""
        meaning = q.meaning
        if meaning is None or (q.about_role and not named_ok):
            return None
        score = meaning.intent.get(intent, 0.0)
        t = self.thresholds
        if score >= t.semantic_intent_floor and score >= meaning.career() + t.semantic_intent_margin:
            return score
        return None

    def _off_topic(self, q: _Question) -> float | None:
        """The confidence that this is not about our three careers, or None."""
        t, meaning, follow_up = self.thresholds, q.meaning, q.follow_up
        if q.finding.roles:
            return q.out_of_scope if q.out_of_scope >= q.career + t.named_out_of_scope_margin else None
        if meaning is not None:
            # Far in meaning from every career phrasing, or nearer the off-topic examples than any of them.
            # A follow-up is given the benefit of the doubt: the conversation says it is about the job, and so
            # does "what does the job pay in texas" (ask which job).
            meaning_career = meaning.career()
            meaning_out = meaning.intent.get("out_of_scope", 0.0)
            # ...and so are plainly career words ("whats the starting hourly wage in nevada"), whose meaning the
            # encoder finds only moderately near any one phrasing.
            career_words = q.career >= t.career_words and q.career >= q.out_of_scope + t.career_words_margin
            about_a_job = follow_up or career_words or q.names_a_job
            floor = t.semantic_career_floor - (t.semantic_follow_up_slack if about_a_job else 0.0)
            # ...but a follow-up in plainly career words ("and the outlook for them") stays with the conversation,
            # however far the encoder puts a word like "outlook" from the phrasings.
            follow_up_in_career_words = follow_up and q.career >= q.out_of_scope + t.career_words_margin
            if (meaning_career < floor and not follow_up_in_career_words) or (
                not about_a_job and meaning_out >= meaning_career + t.semantic_out_of_scope_margin
            ):
                return max(meaning_out, 1.0 - meaning_career)
        if q.finding.other_jobs and (not follow_up or _goes_to_another_job(q)):
            return max(q.out_of_scope, 0.5)
        if _only_names_another_job(q):
            # "and what about lawyers?" after a question on paralegal pay: the same topic, for a job we do not cover.
            return max(q.out_of_scope, 0.5)
        # Words alone do not send away a question naming no other job whose meaning is plainly a career
        # question ("how much do they make starting out?" shares "how much do ... make" with lawyer pay).
        plainly_career = meaning is not None and meaning.career() >= (
            meaning.intent.get("out_of_scope", 0.0) + t.semantic_plainly_career
        )
        if (
            q.guess.kind == "out_of_scope"
            and not follow_up
            and q.career < t.classifier_out_of_scope_career
            and not plainly_career
        ):
            return max(q.out_of_scope, 0.5)
        # Meaning already judged a follow-up above; its few words ("how much do they get paid") say little.
        if (
            q.out_of_scope >= t.out_of_scope
            and q.out_of_scope >= q.career
            and not (q.about_role and meaning)
            and not plainly_career
        ):
            return q.out_of_scope
        return None

    def _rank(self, scores: _Scores, roles: tuple[str, ...], meaning: _Scores | None = None) -> list[Entry]:
        """Entries by score (words, plus meaning when the model is installed), best first. Only entries the
        question touched (by their own phrasings or their topic's, in words or in meaning) are ranked, so the
        cost follows the matches, not the size of the knowledge base."""
        w = self.thresholds.semantic_weight
        word_topic_weight = (
            self.thresholds.word_topic_weight if meaning is not None else self.thresholds.word_topic_weight_alone
        )
        touched = {entry_id: self._entries[entry_id] for entry_id in scores.entry}
        for topic in scores.topic:
            touched.update((e.id, e) for e in self._by_topic.get(topic, ()))
        if meaning is not None:
            near = sorted(meaning.entry.items(), key=lambda item: -item[1])[:_MEANING_CANDIDATES]
            touched.update((entry_id, self._entries[entry_id]) for entry_id, _ in near)
            for topic, _ in sorted(meaning.topic.items(), key=lambda item: -item[1])[:2]:
                touched.update((e.id, e) for e in self._by_topic.get(topic, ()))
        candidates = list(touched.values()) or list(self.kb.entries)

        def score(entry: Entry) -> float:
            lexical = self._entry_score(entry, scores, roles)
            lexical += word_topic_weight * scores.predicted.get(entry.topic.value, 0.0)
            if meaning is None:
                return lexical
            predicted = meaning.predicted.get(entry.topic.value, 0.0)
            return lexical + w * self._entry_score(entry, meaning, ()) + self.thresholds.topic_model_weight * predicted

        # Ties keep the knowledge base's order, so answers do not depend on hashing.
        return sorted(candidates, key=lambda e: (-score(e), self._order[e.id]))

    def _usable(self, context: ConversationContext) -> ConversationContext:
        """Drop stored context this knowledge base no longer knows (a role or topic removed by a KB edit)."""
        roles = tuple(r for r in context.roles if r in self._all_roles)
        topic = context.topic if context.topic in Topic._value2member_map_ else None
        return ConversationContext(roles, topic, context.after_legal_advice)

    def _roleless(
        self,
        best: Entry,
        ranked: list[Entry],
        scores: _Scores,
        meaning: _Scores | None,
        named_group: bool,
        understood: bool,
        truncated: bool,
    ) -> Match:
        """No role named and none in context: answer general entries, ask which role for role-specific ones.
        ``understood``: the question's meaning is plainly one of our answers' ("can i do it with just a GED"),
        however few words it shares with them, so which role it is about is worth asking."""
        t = self.thresholds
        topic_score = scores.topic.get(best.topic.value, 0.0)
        own = scores.entry.get(best.id, 0.0)
        confidence = max(own, topic_score, t.clarify if understood else 0.0)
        if set(best.roles) == set(self._all_roles):
            # "salary?" is as near "paralegal salary" as "which of these pays best" once role names are taken out:
            # a general entry answers a question naming no group only when it fits better than every single role's.
            specific = [
                scores.entry.get(e.id, 0.0)
                for e in ranked[1:]
                if e.topic == best.topic and set(e.roles) != set(self._all_roles)
            ]
            # A phrasing that named the roles one by one ("starting pay for each: paralegal, legal sec...") says
            # nothing of "all three" once the names are taken out, so it does not answer "whats the starting pay".
            if named_group or (
                own >= t.general_without_group
                and own >= max(specific, default=0.0) + t.general_over_specific
                and best.id not in scores.by_role_name
            ):
                return Match(
                    Kind.ANSWER,
                    self._all_roles,
                    best.topic,
                    best.id,
                    round(min(own, 1.0), 3),
                    entries=(best.id,),
                    truncated=truncated,
                )
        else:
            # A question only one role's entry answers ("what is the CP exam") needs no "which role?".
            rivals = [
                scores.entry.get(e.id, 0.0) for e in ranked[1:] if e.topic == best.topic and e.roles != best.roles
            ]
            # ...but only when it is that entry's question, not a personal story that shares a few of its words.
            # A phrasing like "starting pay for paralegals" matches "whats the starting pay" only once its role name
            # is taken out; the question itself says nothing that only that role's entry answers.
            sure = best.id not in scores.by_role_name and (
                meaning is None or self._entry_score(best, meaning, ()) >= t.semantic_specific
            )
            if sure and own >= topic_score + t.specific_margin and own >= max(rivals, default=0.0) + t.specific_margin:
                return Match(
                    Kind.ANSWER,
                    tuple(best.roles),
                    best.topic,
                    best.id,
                    round(min(own, 1.0), 3),
                    entries=(best.id,),
                    truncated=truncated,
                )
        if confidence < t.clarify:
            return Match(
                Kind.OUT_OF_SCOPE, confidence=round(confidence, 3), suggestions=(best.id,), truncated=truncated
            )
        return Match(Kind.CLARIFY, (), best.topic, None, round(min(confidence, 1.0), 3), truncated=truncated)

    def _answer_for(
        self,
        roles: tuple[str, ...],
        topic: Topic,
        best: Entry | None,
        confidence: float,
        truncated: bool,
        used_context: bool,
    ) -> Match:
        entries = self.entries_for(roles, topic, best)
        if not entries:
            return Match(Kind.CLARIFY, (), topic, None, round(confidence, 3), truncated=truncated)
        return Match(
            Kind.ANSWER,
            roles,
            topic,
            entries[0],
            round(max(min(confidence, 1.0), 0.0), 3),
            entries=tuple(entries),
            truncated=truncated,
            used_context=used_context,
        )

    def entries_for(self, roles: tuple[str, ...], topic: Topic, best: Entry | None = None) -> list[str]:
        """The entries that answer ``topic`` for ``roles``: one covering them all, else one per role."""
        wanted = set(roles)
        covers = best is not None and best.topic == topic and set(best.roles) >= wanted
        if best is not None and covers and (set(best.roles) == wanted or len(wanted) == 1):
            return [best.id]
        same_topic = [e for e in self.kb.entries if e.topic == topic]
        exact = [e for e in same_topic if set(e.roles) == wanted]
        if exact:
            return [exact[0].id]
        chosen: list[str] = []
        for role in roles:
            single = [e for e in same_topic if e.roles == [role]]
            if single:
                chosen.append(single[0].id)
        if chosen:
            return chosen
        covering = [e for e in same_topic if wanted & set(e.roles)]
        covering.sort(key=lambda e: len(set(e.roles) ^ wanted))
        return [covering[0].id] if covering else []
