// SPDX-License-Identifier: Apache-2.0
// The PGP word list (Juola and Zimmermann, 1995; public domain): a byte at an even position is
// one of 256 two-syllable words, at an odd position one of 256 three-syllable words, so a word
// read out in the wrong place or skipped is noticed.
#include "signer/ceremony/pgp_words.hpp"

#include <array>
#include <cctype>

#include "signer/error.hpp"

namespace ts::signer::ceremony {

namespace {

const std::array<const char*, 256> kEven = {
    "aardvark",  "absurd",    "accrue",    "acme",      "adrift",    "adult",     "afflict",
    "ahead",     "aimless",   "Algol",     "allow",     "alone",     "ammo",      "ancient",
    "apple",     "artist",    "assume",    "Athens",    "atlas",     "Aztec",     "baboon",
    "backfield", "backward",  "banjo",     "beaming",   "bedlamp",   "beehive",   "beeswax",
    "befriend",  "Belfast",   "berserk",   "billiard",  "bison",     "blackjack", "blockade",
    "blowtorch", "bluebird",  "bombast",   "bookshelf", "brackish",  "breadline", "breakup",
    "brickyard", "briefcase", "Burbank",   "button",    "buzzard",   "cement",    "chairlift",
    "chatter",   "checkup",   "chisel",    "choking",   "chopper",   "Christmas", "clamshell",
    "classic",   "classroom", "cleanup",   "clockwork", "cobra",     "commence",  "concert",
    "cowbell",   "crackdown", "cranky",    "crowfoot",  "crucial",   "crumpled",  "crusade",
    "cubic",     "dashboard", "deadbolt",  "deckhand",  "dogsled",   "dragnet",   "drainage",
    "dreadful",  "drifter",   "dropper",   "drumbeat",  "drunken",   "Dupont",    "dwelling",
    "eating",    "edict",     "egghead",   "eightball", "endorse",   "endow",     "enlist",
    "erase",     "escape",    "exceed",    "eyeglass",  "eyetooth",  "facial",    "fallout",
    "flagpole",  "flatfoot",  "flytrap",   "fracture",  "framework", "freedom",   "frighten",
    "gazelle",   "Geiger",    "glitter",   "glucose",   "goggles",   "goldfish",  "gremlin",
    "guidance",  "hamlet",    "highchair", "hockey",    "indoors",   "indulge",   "inverse",
    "involve",   "island",    "jawbone",   "keyboard",  "kickoff",   "kiwi",      "klaxon",
    "locale",    "lockup",    "merit",     "minnow",    "miser",     "Mohawk",    "mural",
    "music",     "necklace",  "Neptune",   "newborn",   "nightbird", "Oakland",   "obtuse",
    "offload",   "optic",     "orca",      "payday",    "peachy",    "pheasant",  "physique",
    "playhouse", "Pluto",     "preclude",  "prefer",    "preshrunk", "printer",   "prowler",
    "pupil",     "puppy",     "python",    "quadrant",  "quiver",    "quota",     "ragtime",
    "ratchet",   "rebirth",   "reform",    "regain",    "reindeer",  "rematch",   "repay",
    "retouch",   "revenge",   "reward",    "rhythm",    "ribcage",   "ringbolt",  "robust",
    "rocker",    "ruffled",   "sailboat",  "sawdust",   "scallion",  "scenic",    "scorecard",
    "Scotland",  "seabird",   "select",    "sentence",  "shadow",    "shamrock",  "showgirl",
    "skullcap",  "skydive",   "slingshot", "slowdown",  "snapline",  "snapshot",  "snowcap",
    "snowslide", "solo",      "southward", "soybean",   "spaniel",   "spearhead", "spellbind",
    "spheroid",  "spigot",    "spindle",   "spyglass",  "stagehand", "stagnate",  "stairway",
    "standard",  "stapler",   "steamship", "sterling",  "stockman",  "stopwatch", "stormy",
    "sugar",     "surmount",  "suspense",  "sweatband", "swelter",   "tactics",   "talon",
    "tapeworm",  "tempest",   "tiger",     "tissue",    "tonic",     "topmost",   "tracker",
    "transit",   "trauma",    "treadmill", "Trojan",    "trouble",   "tumor",     "tunnel",
    "tycoon",    "uncut",     "unearth",   "unwind",    "uproot",    "upset",     "upshot",
    "vapor",     "village",   "virus",     "Vulcan",    "waffle",    "wallet",    "watchword",
    "wayside",   "willow",    "woodlark",  "Zulu",
};

const std::array<const char*, 256> kOdd = {
    "adroitness",  "adviser",     "aftermath",   "aggregate",   "alkali",     "almighty",
    "amulet",      "amusement",   "antenna",     "applicant",   "Apollo",     "armistice",
    "article",     "asteroid",    "Atlantic",    "atmosphere",  "autopsy",    "Babylon",
    "backwater",   "barbecue",    "belowground", "bifocals",    "bodyguard",  "bookseller",
    "borderline",  "bottomless",  "Bradbury",    "bravado",     "Brazilian",  "breakaway",
    "Burlington",  "businessman", "butterfat",   "Camelot",     "candidate",  "cannonball",
    "Capricorn",   "caravan",     "caretaker",   "celebrate",   "cellulose",  "certify",
    "chambermaid", "Cherokee",    "Chicago",     "clergyman",   "coherence",  "combustion",
    "commando",    "company",     "component",   "concurrent",  "confidence", "conformist",
    "congregate",  "consensus",   "consulting",  "corporate",   "corrosion",  "councilman",
    "crossover",   "crucifix",    "cumbersome",  "customer",    "Dakota",     "decadence",
    "December",    "decimal",     "designing",   "detector",    "detergent",  "determine",
    "dictator",    "dinosaur",    "direction",   "disable",     "disbelief",  "disruptive",
    "distortion",  "document",    "embezzle",    "enchanting",  "enrollment", "enterprise",
    "equation",    "equipment",   "escapade",    "Eskimo",      "everyday",   "examine",
    "existence",   "exodus",      "fascinate",   "filament",    "finicky",    "forever",
    "fortitude",   "frequency",   "gadgetry",    "Galveston",   "getaway",    "glossary",
    "gossamer",    "graduate",    "gravity",     "guitarist",   "hamburger",  "Hamilton",
    "handiwork",   "hazardous",   "headwaters",  "hemisphere",  "hesitate",   "hideaway",
    "holiness",    "hurricane",   "hydraulic",   "impartial",   "impetus",    "inception",
    "indigo",      "inertia",     "infancy",     "inferno",     "informant",  "insincere",
    "insurgent",   "integrate",   "intention",   "inventive",   "Istanbul",   "Jamaica",
    "Jupiter",     "leprosy",     "letterhead",  "liberty",     "maritime",   "matchmaker",
    "maverick",    "Medusa",      "megaton",     "microscope",  "microwave",  "midsummer",
    "millionaire", "miracle",     "misnomer",    "molasses",    "molecule",   "Montana",
    "monument",    "mosquito",    "narrative",   "nebula",      "newsletter", "Norwegian",
    "October",     "Ohio",        "onlooker",    "opulent",     "Orlando",    "outfielder",
    "Pacific",     "pandemic",    "Pandora",     "paperweight", "paragon",    "paragraph",
    "paramount",   "passenger",   "pedigree",    "Pegasus",     "penetrate",  "perceptive",
    "performance", "pharmacy",    "phonetic",    "photograph",  "pioneer",    "pocketful",
    "politeness",  "positive",    "potato",      "processor",   "provincial", "proximate",
    "puberty",     "publisher",   "pyramid",     "quantity",    "racketeer",  "rebellion",
    "recipe",      "recover",     "repellent",   "replica",     "reproduce",  "resistor",
    "responsive",  "retraction",  "retrieval",   "retrospect",  "revenue",    "revival",
    "revolver",    "sandalwood",  "sardonic",    "Saturday",    "savagery",   "scavenger",
    "sensation",   "sociable",    "souvenir",    "specialist",  "speculate",  "stethoscope",
    "stupendous",  "supportive",  "surrender",   "suspicious",  "sympathy",   "tambourine",
    "telephone",   "therapist",   "tobacco",     "tolerance",   "tomorrow",   "torpedo",
    "tradition",   "travesty",    "trombonist",  "truncated",   "typewriter", "ultimate",
    "undaunted",   "underfoot",   "unicorn",     "unify",       "universe",   "unravel",
    "upcoming",    "vacancy",     "vagabond",    "vertigo",     "Virginia",   "visitor",
    "vocalist",    "voyager",     "warranty",    "Waterloo",    "whimsical",  "Wichita",
    "Wilmington",  "Wyoming",     "yesteryear",  "Yucatan",
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

int find(const std::array<const char*, 256>& list, const std::string& word) {
    for (int i = 0; i < 256; ++i)
        if (lower(list[static_cast<size_t>(i)]) == word) return i;
    return -1;
}

}  // namespace

std::string pgp_words(std::span<const unsigned char> bytes) {
    std::string out;
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i != 0) out += ' ';
        out += (i % 2 == 0 ? kEven : kOdd)[bytes[i]];
    }
    return out;
}

std::vector<unsigned char> pgp_words_decode(const std::string& text) {
    std::vector<unsigned char> out;
    std::string word;
    auto take = [&] {
        if (word.empty()) return;
        std::string w = lower(word);
        bool even = out.size() % 2 == 0;
        int at = find(even ? kEven : kOdd, w);
        if (at < 0) {
            int other = find(even ? kOdd : kEven, w);
            if (other >= 0)
                throw InputError("word " + std::to_string(out.size() + 1) + " '" + word +
                                 "' belongs at an " + (even ? "odd" : "even") +
                                 " position: a word was skipped, repeated or swapped");
            throw InputError("word " + std::to_string(out.size() + 1) + " '" + word +
                             "' is not in the PGP word list");
        }
        out.push_back(static_cast<unsigned char>(at));
        word.clear();
    };
    for (char c : text) {
        if (std::isspace(static_cast<unsigned char>(c)) || c == ',')
            take();
        else
            word += c;
    }
    take();
    return out;
}

}  // namespace ts::signer::ceremony
