// Email message text for SMTP deliveries: RFC 5322 headers, RFC 2047 encoded words for non-ASCII
// header text, RFC 2045 quoted-printable bodies. Internal to delivery/. Pure functions,
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gc::delivery::internal {

// The address of a mailbox: "Name <a@b.c>" → "a@b.c"; "a@b.c" stays. CR/LF are removed.
std::string AddressOf(std::string_view mailbox);

// A header value as is when it is short printable ASCII, else RFC 2047 "B" encoded words
// (=?UTF-8?B?...?=, each at most 75 characters, split on UTF-8 character boundaries, folded with
// CRLF SP). CR and LF in `text` become spaces.
std::string EncodeHeaderText(std::string_view text);

// RFC 5322 date-time in UTC, e.g. "Tue, 25 Nov 2025 09:50:00 +0000".
std::string Rfc5322Date(int64_t epoch_millis);

// The whole message (headers, blank line, body; CRLF line ends): From, To, Subject, Date,
// Message-ID <message_id_local@domain of from>, MIME-Version, Content-Type text/plain;
// charset=UTF-8, and Content-Transfer-Encoding 7bit (ASCII with lines of at most 998 bytes) or
// quoted-printable (anything else).
std::string BuildEmailMessage(std::string_view from, std::string_view to, std::string_view subject,
                              std::string_view body, int64_t epoch_millis,
                              std::string_view message_id_local);

}  // namespace gc::delivery::internal
