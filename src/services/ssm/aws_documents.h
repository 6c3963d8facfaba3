// The AWS-owned SSM documents groundcrew ships: present in every account and region from the
// start, read-only, Owner "Amazon", JSON format, version 1. Their content and parameters are
// AWS's; AWS-RunPatchBaseline runs groundcrew-agent's aws:runPatchBaseline plugin instead of
// AWS's per-platform scripts (README.md). Immutable data; thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace gc::ssm {

struct AwsDocumentSource {
  std::string_view name;           // "AWS-RunShellScript"
  std::string_view document_type;  // "Command", "Policy", ...
  std::string_view content;        // JSON text
  double created;                  // CreatedDate, epoch seconds
};

// Sorted by name.
const std::vector<AwsDocumentSource>& AwsDocumentSources();

}  // namespace gc::ssm
