// fieldsync-bench's data generator (see generator.hpp): word lists and the shapes of a field
// worker's records, drawn from a per-device stream of the seed.
#include "bench/generator.hpp"

#include <array>
#include <cstdio>
#include <random>
#include <string_view>

namespace fieldsync::bench {
namespace {

using Kind = client::FieldEdit::Kind;

constexpr std::array<std::string_view, 24> kGivenNames = {
    "Amina", "Bogdan", "Chloe",  "Dawit", "Elena", "Farah",   "Grace", "Hassan",
    "Ines",  "Jonas",  "Kofi",   "Leila", "Marek", "Nadia",   "Omar",  "Priya",
    "Rahel", "Samir",  "Tamsin", "Usman", "Vera",  "Wanjiru", "Yusuf", "Zofia"};
constexpr std::array<std::string_view, 20> kFamilyNames = {
    "Abdi",   "Baker",   "Costa",  "Dlamini",  "Evans", "Fofana", "Gashi",
    "Haddad", "Iqbal",   "Jensen", "Kowalski", "Lungu", "Mensah", "Novak",
    "Okafor", "Popescu", "Quinn",  "Rahman",   "Silva", "Tesfaye"};
constexpr std::array<std::string_view, 18> kStreets = {
    "Mill Lane",    "Station Road",  "Church Street", "Victoria Road", "Park Avenue",
    "Queens Walk",  "Canal Side",    "High Street",   "Orchard Close", "Bridge Street",
    "Willow Court", "Market Square", "Chapel Row",    "Harbour View",  "Elm Grove",
    "Foundry Yard", "Hillside Way",  "Brook Terrace"};
constexpr std::array<std::string_view, 10> kTowns = {
    "Ashford",   "Brampton", "Calder",    "Dunmore",   "Eastleigh",
    "Fairfield", "Glenrock", "Hatherley", "Ivybridge", "Kingsmoor"};
constexpr std::array<std::string_view, 12> kLanguages = {
    "English",    "Polish",   "Arabic", "Somali",    "Urdu",    "Romanian",
    "Portuguese", "Tigrinya", "Dari",   "Ukrainian", "Bengali", "Spanish"};
constexpr std::array<std::string_view, 8> kLandmarks = {
    "blue door behind the chapel",           "flat above the launderette",
    "last caravan on the left by the river", "ground floor, ring twice",
    "side entrance off the car park",        "opposite the primary school",
    "third floor, lift often broken",        "house with the green gate"};
constexpr std::array<std::string_view, 7> kProgrammes = {
    "Housing support",      "Family outreach",      "Recovery support",        "Youth mentoring",
    "Older people at home", "Refugee resettlement", "Debt and benefits advice"};
constexpr std::array<std::string_view, 10> kNeeds = {
    "housing",    "benefits", "mental_health", "substance_use",   "childcare",
    "employment", "language", "debt",          "physical_health", "isolation"};
constexpr std::array<std::string_view, 6> kPlaces = {"client's home",  "community centre",
                                                     "GP surgery",     "library cafe",
                                                     "drop-in office", "by phone"};
constexpr std::array<std::string_view, 6> kVisitKinds = {"home",  "outreach", "office",
                                                         "phone", "video",    "clinic"};
constexpr std::array<std::string_view, 5> kStatuses = {"assessment", "planning", "implementation",
                                                       "evaluation", "closed"};
constexpr std::array<std::string_view, 4> kRisks = {"low", "medium", "high", "critical"};
constexpr std::array<std::string_view, 3> kConsents = {"given", "withdrawn", "unknown"};
constexpr std::array<std::string_view, 8> kTaskTitles = {
    "Chase housing benefit claim",  "Book interpreter for next visit", "Send referral letter to GP",
    "Check rent arrears statement", "Call school about attendance",    "Renew bus pass application",
    "Follow up food bank voucher",  "Arrange carers assessment"};
constexpr std::array<std::string_view, 7> kServices = {"food bank",
                                                       "citizens advice",
                                                       "community mental health team",
                                                       "housing association",
                                                       "adult social care",
                                                       "employment support",
                                                       "drug and alcohol service"};
constexpr std::array<std::string_view, 16> kSentences = {
    "Client was at home and engaged well throughout the visit.",
    "We went through the benefits letter together and agreed next steps.",
    "Landlord has not yet repaired the damp in the back bedroom.",
    "Daughter was present and helped with interpreting for part of the conversation.",
    "Client reports sleeping badly and feeling low since the last appointment.",
    "Rent arrears have come down after the first payment plan instalment.",
    "Discussed a referral to the community mental health team; client agreed.",
    "No answer at the door; left a card and will try again on Thursday.",
    "GP appointment is booked for next week and transport is arranged.",
    "Kitchen was clean and there was food in the fridge.",
    "Client asked for help filling in the housing application form.",
    "Safeguarding concerns were discussed with the team lead by phone.",
    "School says attendance has improved to four days a week.",
    "Client wants to start an English class at the library in the spring.",
    "Agreed to review the support plan at the next visit in two weeks.",
    "Medication is being taken as prescribed according to the pharmacy."};

// One device's stream: splitmix64 over (seed, device, stream), feeding a 64-bit Mersenne
// twister. Draws are reduced modulo the range (the bias is negligible for these sizes).
class Stream {
 public:
  Stream(std::uint64_t seed, std::size_t device, std::uint64_t stream)
      : rng_(mix(seed ^ mix(device * 0x9E3779B97F4A7C15ULL + stream))) {}

  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n); }
  int between(int lo, int hi) { return lo + static_cast<int>(below(hi - lo + 1)); }
  bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }
  template <std::size_t N>
  std::string pick(const std::array<std::string_view, N>& list) {
    return std::string(list[below(N)]);
  }

 private:
  static std::uint64_t mix(std::uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::mt19937_64 rng_;
};

std::string date(int year, int month, int day) {
  std::array<char, 48> b{};
  std::snprintf(b.data(), b.size(), "%04d-%02d-%02d", year, month, day);
  return b.data();
}

std::string random_date(Stream& s, int from_year, int to_year) {
  return date(s.between(from_year, to_year), s.between(1, 12), s.between(1, 28));
}

std::string datetime(Stream& s) {
  std::array<char, 64> b{};
  std::snprintf(b.data(), b.size(), "%04d-%02d-%02dT%02d:%02d:00Z", s.between(2024, 2025),
                s.between(1, 12), s.between(1, 28), s.between(8, 18), 15 * s.between(0, 3));
  return b.data();
}

std::string number(const char* format, std::size_t value) {
  std::array<char, 32> b{};
  std::snprintf(b.data(), b.size(), format, value);
  return b.data();
}

std::string phone(Stream& s) { return "+44 7700 9" + number("%05zu", s.below(100000)); }

std::string address(Stream& s) {
  return std::to_string(s.between(1, 180)) + " " + s.pick(kStreets) + ", " + s.pick(kTowns);
}

// Prose of about `min`-`max` characters: whole sentences until the length drawn is reached,
// cut at a word if that goes past `max`.
std::string prose(Stream& s, std::size_t min, std::size_t max) {
  const std::size_t want = min + s.below(max - min + 1);
  std::string text;
  while (text.size() < want) {
    if (!text.empty()) text += ' ';
    text += s.pick(kSentences);
  }
  if (text.size() > max) {
    text.resize(max);
    if (auto space = text.rfind(' '); space != std::string::npos && space >= min)
      text.resize(space);
  }
  return text;
}

Write put(std::string collection, std::string id, std::vector<client::FieldEdit> edits) {
  return Write{Write::Kind::put, std::move(collection), std::move(id), std::move(edits), {}};
}

client::FieldEdit set(std::string field, std::string value) {
  return {std::move(field), Kind::set, std::move(value)};
}

}  // namespace

DevicePlan Generator::caseload(std::size_t device, const std::string& worker,
                               const std::string& id_prefix, std::size_t cases) const {
  Stream s(seed_, device, 1);
  DevicePlan plan;
  const std::string base = id_prefix + number("d%04zu-", device);
  for (std::size_t i = 0; i < cases; ++i) {
    const std::string n = number("%05zu", i);
    // A record id: the device's prefix, a letter for the collection, the case number.
    auto id_of = [&](char letter, const std::string& suffix = {}) {
      std::string id = base;
      id += letter;
      id += n;
      id += suffix;
      return id;
    };
    const std::string client = id_of('k');
    const std::string kase = id_of('c');
    std::vector<client::FieldEdit> c = {
        set("name", s.pick(kGivenNames) + " " + s.pick(kFamilyNames)),
        set("date_of_birth", random_date(s, 1940, 2012)), set("contact", phone(s)),
        set("address", address(s)), set("preferred_language", s.pick(kLanguages))};
    if (s.chance(40)) c.push_back(set("location_description", s.pick(kLandmarks)));
    plan.writes.push_back(put("clients", client, std::move(c)));
    plan.caseload.clients.push_back(client);

    const std::string opened = random_date(s, 2024, 2025);
    std::vector<client::FieldEdit> k = {
        set("client_id", client),
        set("programme", s.pick(kProgrammes)),
        set("status", std::string(kStatuses[s.below(3)])),
        set("risk", std::string(kRisks[s.chance(70) ? s.below(2) : 2 + s.below(2)])),
        set("consent", std::string(kConsents[s.chance(85) ? 0 : 2])),
        set("assigned_to", worker),
        set("opened_on", opened)};
    const std::size_t needs = 1 + s.below(2);
    for (std::size_t j = 0; j < needs; ++j)
      k.push_back(
          {"needs", Kind::add, std::string(kNeeds[(i + j * 3 + s.below(3)) % kNeeds.size()])});
    plan.writes.push_back(put("cases", kase, std::move(k)));
    plan.caseload.cases.push_back(kase);

    const std::size_t visits = 1 + s.below(2);
    for (std::size_t v = 0; v < visits; ++v) {
      const std::string id = id_of('v', "-" + std::to_string(v));
      plan.writes.push_back(
          put("visits", id,
              {set("case_id", kase), set("time", datetime(s)), set("place", s.pick(kPlaces)),
               set("kind", s.pick(kVisitKinds)), set("outcome", prose(s, 40, 200))}));
      plan.caseload.visits.push_back(id);
    }
    const std::size_t notes = 1 + s.below(2);
    for (std::size_t j = 0; j < notes; ++j)
      plan.writes.push_back(Write{Write::Kind::note, "notes", kase, {}, prose(s, 100, 600)});
    if (s.chance(30)) {
      const std::string id = id_of('t');
      plan.writes.push_back(put("tasks", id,
                                {set("case_id", kase), set("title", s.pick(kTaskTitles)),
                                 set("due_date", random_date(s, 2025, 2026)), set("status", "open"),
                                 set("assigned_to", worker)}));
      plan.caseload.tasks.push_back(id);
    }
    if (s.chance(15)) {
      const std::string id = id_of('r');
      plan.writes.push_back(put("referrals", id,
                                {set("case_id", kase), set("service", s.pick(kServices)),
                                 set("status", s.chance(50) ? "proposed" : "sent"),
                                 set("sent_on", random_date(s, 2024, 2025))}));
      plan.caseload.referrals.push_back(id);
    }
  }
  plan.records = plan.writes.size();
  return plan;
}

std::vector<Write> Generator::edits(std::size_t device, const Caseload& caseload, std::size_t n,
                                    std::size_t round) const {
  Stream s(seed_, device, 2 + round);
  std::vector<Write> out;
  out.reserve(n);
  if (caseload.cases.empty()) return out;
  while (out.size() < n) {
    const std::size_t roll = s.below(100);
    const std::string& kase = caseload.cases[s.below(caseload.cases.size())];
    if (roll < 30) {
      out.push_back(put("cases", kase, {set("status", s.pick(kStatuses))}));
    } else if (roll < 45) {
      out.push_back(put("cases", kase, {set("risk", s.pick(kRisks))}));
    } else if (roll < 70 && !caseload.visits.empty()) {
      const std::string& v = caseload.visits[s.below(caseload.visits.size())];
      out.push_back(put("visits", v, {set("outcome", prose(s, 40, 200))}));
    } else if (roll < 80 && !caseload.tasks.empty()) {
      const std::string& t = caseload.tasks[s.below(caseload.tasks.size())];
      out.push_back(put("tasks", t, {set("status", s.chance(80) ? "done" : "cancelled")}));
    } else if (roll < 85 && !caseload.referrals.empty()) {
      const std::string& r = caseload.referrals[s.below(caseload.referrals.size())];
      out.push_back(put("referrals", r, {set("status", s.chance(70) ? "accepted" : "completed")}));
    } else {
      const std::string& c = caseload.clients[s.below(caseload.clients.size())];
      out.push_back(s.chance(50) ? put("clients", c, {set("contact", phone(s))})
                                 : put("clients", c, {set("address", address(s))}));
    }
  }
  return out;
}

Status apply(client::Replica& replica, const Write& write) {
  if (write.kind == Write::Kind::note) {
    auto id = replica.add_note(write.id, write.text);
    return id ? Status::ok() : id.status();
  }
  auto op = replica.put(write.collection, write.id, write.edits);
  return op ? Status::ok() : op.status();
}

}  // namespace fieldsync::bench
