#include "services/ssm/aws_documents.h"

namespace gc::ssm {
namespace {

// AWS-GatherSoftwareInventory: the inventory policy State Manager associations run.
constexpr std::string_view kGatherSoftwareInventory = R"json({
  "schemaVersion": "2.0",
  "description": "Software Inventory Policy Document.",
  "parameters": {
    "applications": {
      "type": "String",
      "default": "Enabled",
      "description": "(Optional) Collect data for installed applications.",
      "allowedValues": ["Enabled", "Disabled"]
    },
    "awsComponents": {
      "type": "String",
      "default": "Enabled",
      "description": "(Optional) Collect data for AWS Components like amazon-ssm-agent.",
      "allowedValues": ["Enabled", "Disabled"]
    },
    "files": {
      "type": "String",
      "default": "",
      "description": "<p>(Optional, requires SSMAgent version 2.2.64.0 and above)<br/><br/>Linux example:<br/><em>[{\"Path\":\"/usr/bin\", \"Pattern\":[\"aws*\", \"*ssm*\"],\"Recursive\":false},{\"Path\":\"/var/log\", \"Pattern\":[\"amazon*.*\"], \"Recursive\":true, \"DirScanLimit\":1000}]<br/></em><br/>Windows example:<br/><em>[{\"Path\":\"%PROGRAMFILES%\", \"Pattern\":[\"*.exe\"],\"Recursive\":true}]</em><br/><br/>Learn More: http://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-inventory-about.html#sysman-inventory-file-and-registry  </p>",
      "displayType": "textarea"
    },
    "networkConfig": {
      "type": "String",
      "default": "Enabled",
      "description": "(Optional) Collect data for Network configurations.",
      "allowedValues": ["Enabled", "Disabled"]
    },
    "billingInfo": {
      "type": "String",
      "default": "Enabled",
      "description": "(Optional) Collect billing info for license included applications.",
      "allowedValues": ["Enabled", "Disabled"]
    },
    "windowsUpdates": {
      "type": "String",
      "default": "Enabled",
      "description": "(Optional, Windows OS only) Collect data for all Windows Updates.",
      "allowedValues": ["Enabled", "Disabled"]
    },
    "instanceDetailedInformation": {
      "type": "String",
      "default": "Enabled",
      "description": "(Optional) Collect additional information about the instance, including the CPU model, speed, and the number of cores, to name a few.",
      "allowedValues": ["Enabled", "Disabled"]
    },
    "services": {
      "type": "String",
      "default": "Enabled",
      "description": "(Optional, Windows OS only, requires SSMAgent version 2.2.64.0 and above) Collect data for service configurations.",
      "allowedValues": ["Enabled", "Disabled"]
    },
    "windowsRegistry": {
      "type": "String",
      "default": "",
      "description": "<p>(Optional, Windows OS only, requires SSMAgent version 2.2.64.0 and above)<br/><br/>Example:<br/>[{\"Path\":\"HKEY_CURRENT_CONFIG\\System\",\"Recursive\":true},{\"Path\":\"HKEY_LOCAL_MACHINE\\SOFTWARE\\Amazon\\MachineImage\", \"ValueNames\":[\"AMIName\"]}]<br/><br/>Learn More: http://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-inventory-about.html#sysman-inventory-file-and-registry </p>",
      "displayType": "textarea"
    },
    "windowsRoles": {
      "type": "String",
      "default": "Enabled",
      "description": "(Optional, Windows OS only, requires SSMAgent version 2.2.64.0 and above) Collect data for Microsoft Windows role configurations.",
      "allowedValues": ["Enabled", "Disabled"]
    },
    "customInventory": {
      "type": "String",
      "default": "Enabled",
      "description": "(Optional) Collect data for custom inventory.",
      "allowedValues": ["Enabled", "Disabled"]
    }
  },
  "mainSteps": [
    {
      "action": "aws:softwareInventory",
      "name": "collectSoftwareInventoryItems",
      "inputs": {
        "applications": "{{ applications }}",
        "awsComponents": "{{ awsComponents }}",
        "networkConfig": "{{ networkConfig }}",
        "files": "{{ files }}",
        "services": "{{ services }}",
        "windowsRoles": "{{ windowsRoles }}",
        "windowsRegistry": "{{ windowsRegistry}}",
        "windowsUpdates": "{{ windowsUpdates }}",
        "instanceDetailedInformation": "{{ instanceDetailedInformation }}",
        "billingInfo": "{{ billingInfo }}",
        "customInventory": "{{ customInventory }}"
      }
    }
  ]
}
)json";

// AWS-RunPatchBaseline: AWS's parameters; one step for groundcrew-agent's aws:runPatchBaseline
// plugin (apt on Debian and Ubuntu) where AWS runs a per-platform script that downloads its
// patching payload.
constexpr std::string_view kRunPatchBaseline = R"json({
  "schemaVersion": "2.2",
  "description": "Scans for or installs patches from a patch baseline to a Linux or Windows operating system.",
  "parameters": {
    "Operation": {
      "type": "String",
      "description": "(Required) The update or configuration to perform on the instance. The system checks if patches specified in the patch baseline are installed on the instance. The install operation installs patches missing from the baseline.",
      "allowedValues": ["Scan", "Install"]
    },
    "SnapshotId": {
      "type": "String",
      "default": "",
      "description": "(Optional) The snapshot ID to use to retrieve a patch baseline snapshot.",
      "allowedPattern": "(^$)|^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$"
    },
    "InstallOverrideList": {
      "type": "String",
      "default": "",
      "description": "(Optional) An https URL or an Amazon S3 path-style URL to a list of patches to be installed. This patch installation list, which you maintain in an S3 bucket in YAML format, overrides the patches specified by the default patch baseline for the instance.",
      "allowedPattern": "(^https://.+/.+\\.yaml$)|(^s3://([^/]+)/(.*?([^/]+))\\.yaml$)|(^$)"
    },
    "BaselineOverride": {
      "type": "String",
      "default": "",
      "description": "(Optional) Uses the patching specified in the baseline override to patch the instance. The baseline override, which you maintain in an S3 bucket in JSON format, overrides the patch baseline the instance would otherwise use.",
      "allowedPattern": "(^https://.+/.+\\.json$)|(^s3://([^/]+)/(.*?([^/]+))\\.json$)|(^$)"
    },
    "RebootOption": {
      "type": "String",
      "default": "RebootIfNeeded",
      "description": "(Optional) Reboot behavior after a patch Install operation. If you choose NoReboot and patches are installed, the instance is marked as non-compliant until a subsequent reboot and scan.",
      "allowedValues": ["RebootIfNeeded", "NoReboot"]
    }
  },
  "mainSteps": [
    {
      "precondition": {
        "StringEquals": ["platformType", "Linux"]
      },
      "action": "aws:runPatchBaseline",
      "name": "PatchLinux",
      "inputs": {
        "Operation": "{{ Operation }}",
        "SnapshotId": "{{ SnapshotId }}",
        "InstallOverrideList": "{{ InstallOverrideList }}",
        "BaselineOverride": "{{ BaselineOverride }}",
        "RebootOption": "{{ RebootOption }}"
      }
    }
  ]
}
)json";

// AWS-RunShellScript: schema 1.2, the document of `aws ssm send-command` examples everywhere.
constexpr std::string_view kRunShellScript = R"json({
  "schemaVersion": "1.2",
  "description": "Run a shell script or specify the commands to run.",
  "parameters": {
    "commands": {
      "type": "StringList",
      "description": "(Required) Specify a shell script or a command to run.",
      "minItems": 1,
      "displayType": "textarea"
    },
    "workingDirectory": {
      "type": "String",
      "default": "",
      "description": "(Optional) The path to the working directory on your instance.",
      "maxChars": 4096
    },
    "executionTimeout": {
      "type": "String",
      "default": "3600",
      "description": "(Optional) The time in seconds for a command to complete before it is considered to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).",
      "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"
    }
  },
  "runtimeConfig": {
    "aws:runShellScript": {
      "properties": [
        {
          "id": "0.aws:runShellScript",
          "runCommand": "{{ commands }}",
          "workingDirectory": "{{ workingDirectory }}",
          "timeoutSeconds": "{{ executionTimeout }}"
        }
      ]
    }
  }
}
)json";

}  // namespace

const std::vector<AwsDocumentSource>& AwsDocumentSources() {
  static const std::vector<AwsDocumentSource> kSources = {
      {"AWS-GatherSoftwareInventory", "Policy", kGatherSoftwareInventory, 1489435200.0},
      {"AWS-RunPatchBaseline", "Command", kRunPatchBaseline, 1481068800.0},
      {"AWS-RunShellScript", "Command", kRunShellScript, 1447286400.0},
  };
  return kSources;
}

}  // namespace gc::ssm
