// Named constructors for the errors of SSM documents, with AWS's codes and, where known, its
// wording (src/services/ssm/README.md lists the messages that are ours). Pure; thread-safe.
#pragma once

#include <fmt/format.h>

#include <string>

#include "common/status.h"

namespace gc::ssm::errors {

inline AwsError InvalidDocument(const std::string& name) {
  return {"InvalidDocument", fmt::format("Document with name {} does not exist.", name), 400};
}
inline AwsError InvalidDocumentVersionName(const std::string& name, const std::string& version) {
  return {"InvalidDocument",
          fmt::format("Document with name {} with version {} does not exist.", name, version), 400};
}
inline AwsError InvalidDocumentVersion() {
  return {"InvalidDocumentVersion", "The document version is not valid or does not exist.", 400};
}
inline AwsError DocumentAlreadyExists(const std::string& name) {
  return {"DocumentAlreadyExists", fmt::format("Document with same name {} already exists", name),
          400};
}
inline AwsError InvalidDocumentContent(std::string message) {
  return {"InvalidDocumentContent", std::move(message), 400};
}
inline AwsError InvalidDocumentSchemaVersion(std::string message) {
  return {"InvalidDocumentSchemaVersion", std::move(message), 400};
}
inline AwsError DuplicateDocumentContent() {
  return {"DuplicateDocumentContent",
          "The content of the association document matches another document. Change the "
          "content of the document and try again.",
          400};
}
inline AwsError DuplicateDocumentVersionName(const std::string& version_name) {
  return {"DuplicateDocumentVersionName",
          fmt::format("The version name {} has already been used in this document. Specify a "
                      "different version name, and then try again.",
                      version_name),
          400};
}
inline AwsError DocumentLimitExceeded(int64_t limit) {
  return {"DocumentLimitExceeded",
          fmt::format("You can have at most {} active SSM documents.", limit), 400};
}
inline AwsError DocumentVersionLimitExceeded() {
  return {"DocumentVersionLimitExceeded",
          "The document has too many versions. Delete one or more document versions and try "
          "again.",
          400};
}
inline AwsError MaxDocumentSizeExceeded() {
  return {"MaxDocumentSizeExceeded", "The size limit of a document is 64 KB.", 400};
}
inline AwsError InvalidDocumentOperation(std::string message) {
  return {"InvalidDocumentOperation", std::move(message), 400};
}
inline AwsError DocumentStillShared() {
  return InvalidDocumentOperation(
      "You attempted to delete a document while it is still shared. You must stop sharing the "
      "document before you can delete it.");
}
inline AwsError AmazonOwnedDocument(const std::string& name) {
  return InvalidDocumentOperation(
      fmt::format("Document {} is owned by Amazon and can't be modified or deleted.", name));
}
inline AwsError DocumentPermissionLimit(std::string message) {
  return {"DocumentPermissionLimit", std::move(message), 400};
}
inline AwsError InvalidParameters() {
  return {"InvalidParameters", "Parameters provided in document are invalid or not supported.",
          400};
}

}  // namespace gc::ssm::errors
