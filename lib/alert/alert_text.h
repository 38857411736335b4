// The words a person reads in an alert, shared by the Slack and email
// channels so both say the same thing: the title line, the facts (job, host,
// severity, rule, streak) and the plain-text body.
//
//   CRITICAL openaq: failed 3 times in a row
//   RECOVERED openaq: succeeded again after 4 failures
//   TEST jobsd: Test alert from jobsd on box1
//
// Pure functions; any thread. The Alert's texts are already scrubbed
// (alert.h), so nothing here masks anything.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alert/alert.h"
#include "core/utf8.h"

namespace alert {

// What the title starts with: the severity in capitals ("CRITICAL"), with
// "(repeat)" or "(escalated)" for those kinds; "RECOVERED" and "TEST" for
// recoveries and tests.
std::string Label(const Alert& alert);

// The job's name, or "jobsd" for daemon-wide alerts.
std::string_view Subject(const Alert& alert);

// "<label> <subject>: <summary>", the summary without a leading job name
// (summaries read "openaq failed 3 times in a row"); one line.
std::string Title(const Alert& alert);

// The facts a message shows in this order: Job, Host, Severity, Rule,
// Streak (consecutive failures), and Measured when the alert has a value.
std::vector<std::pair<std::string, std::string>> Facts(const Alert& alert);

// The body of a plain-text message, lines ending in '\n': the title, the
// facts, the last error (indented) and the link to the job's runs.
std::string PlainTextBody(const Alert& alert, std::string_view delivery_id = {});

// `text` on one line: CR, LF and tabs become spaces, other control
// characters are dropped.
std::string OneLine(std::string_view text);

// `text` cut to at most `max` bytes on a UTF-8 character boundary, with
// `mark` appended when anything was cut (core/utf8.h).
using core::CutUtf8;

}  // namespace alert
