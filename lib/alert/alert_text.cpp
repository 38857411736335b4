#include "alert/alert_text.h"

#include <fmt/format.h>
#include <cctype>

namespace alert {
namespace {

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// A measured value the way the rule thinks of it: seconds for duration_over.
std::string FormatValue(const Alert& alert, double value) {
  if (alert.rule == "duration_over") return fmt::format("{:g}s", value);
  return fmt::format("{:g}", value);
}

std::string Streak(int failures) {
  if (failures <= 0) return "none";
  if (failures == 1) return "1 failure";
  return std::to_string(failures) + " consecutive failures";
}

}  // namespace

std::string Label(const Alert& alert) {
  switch (alert.kind) {
    case AlertKind::kRecovery:
      return "RECOVERED";
    case AlertKind::kTest:
      return "TEST";
    case AlertKind::kRepeat:
      return Upper(ToString(alert.severity)) + " (repeat)";
    case AlertKind::kEscalation:
      return Upper(ToString(alert.severity)) + " (escalated)";
    case AlertKind::kFiring:
      break;
  }
  return Upper(ToString(alert.severity));
}

std::string_view Subject(const Alert& alert) {
  return alert.job.empty() ? std::string_view("jobsd") : std::string_view(alert.job);
}

std::string Title(const Alert& alert) {
  // Summaries name the job first ("openaq failed 3 times in a row"), and
  // the title names it already.
  std::string_view summary = alert.summary;
  if (!alert.job.empty() && summary.starts_with(alert.job)) {
    std::string_view rest = summary.substr(alert.job.size());
    if (rest.starts_with(": ")) {
      summary = rest.substr(2);
    } else if (rest.starts_with(' ')) {
      summary = rest.substr(1);
    }
  }
  std::string title = Label(alert) + " " + std::string(Subject(alert)) + ": ";
  title += summary.empty() ? alert.rule : std::string(summary);
  return OneLine(title);
}

std::vector<std::pair<std::string, std::string>> Facts(const Alert& alert) {
  std::vector<std::pair<std::string, std::string>> facts = {
      {"Job", std::string(Subject(alert))},
      {"Host", alert.host.empty() ? "-" : OneLine(alert.host)},
      {"Severity", std::string(ToString(alert.severity))},
      {"Rule", OneLine(alert.rule)},
      {"Streak", Streak(alert.consecutive_failures)},
  };
  if (alert.value) {
    std::string measured = FormatValue(alert, *alert.value);
    if (alert.threshold) measured += " (threshold " + FormatValue(alert, *alert.threshold) + ")";
    facts.emplace_back("Measured", std::move(measured));
  }
  return facts;
}

std::string PlainTextBody(const Alert& alert, std::string_view delivery_id) {
  std::string out = Title(alert) + "\n\n";
  for (const auto& [name, value] : Facts(alert)) {
    out += fmt::format("{:<10}{}\n", name + ":", value);
  }
  out += fmt::format("{:<10}{}\n", "Raised:", core::FormatRfc3339(alert.raised_at));
  if (alert.run_id) out += fmt::format("{:<10}{}\n", "Run:", *alert.run_id);
  if (!alert.last_error.empty()) {
    out += "\nLast error:\n";
    std::string_view rest = alert.last_error;
    while (!rest.empty()) {
      const std::size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      if (line.ends_with('\r')) line.remove_suffix(1);
      out += "    " + std::string(line) + "\n";
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
  }
  if (!alert.runs_url.empty()) out += "\nRuns: " + alert.runs_url + "\n";
  out += "\n-- \njobsd on " + (alert.host.empty() ? std::string("-") : OneLine(alert.host));
  if (!delivery_id.empty()) out += ", delivery " + std::string(delivery_id);
  out += "\n";
  return out;
}

std::string OneLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\t') {
      out += ' ';
    } else if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) {
      out += c;
    }
  }
  return out;
}

}  // namespace alert
