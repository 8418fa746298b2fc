"""The slice of Mesos' v1 protos that the dev master reads, as data for `json_call`.

Written by hand from include/mesos/v1/scheduler/scheduler.proto (`Call` and its
bodies) and include/mesos/v1/mesos.proto (FrameworkInfo, Offer.Operation, TaskInfo,
Resource, CommandInfo, ContainerInfo, Volume, ...), fields in the protos' order.
A field is `name:type`; a leading `!` marks it required, `*` repeated. A type is a
scalar (`string`, `bytes`, `bool`, `double`, `int32`, `uint32`, `int64`, `uint64`),
an enum or message named below, or `any`: a message the dev master never reads
(health checks, labels, maps, offer constraints...), taken as a JSON object whose
inside is not checked. That is the one place the dev master is more lenient than
Mesos, which would check those messages' field types and required fields too.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALARS = frozenset({"string", "bytes", "bool", "double", "int32", "uint32", "int64", "uint64"})
ANY = "any"

ENUMS: dict[str, frozenset[str]] = {
    "Call.Type": frozenset(
        "UNKNOWN SUBSCRIBE TEARDOWN ACCEPT DECLINE ACCEPT_INVERSE_OFFERS DECLINE_INVERSE_OFFERS"
        " REVIVE KILL SHUTDOWN ACKNOWLEDGE ACKNOWLEDGE_OPERATION_STATUS RECONCILE"
        " RECONCILE_OPERATIONS MESSAGE REQUEST SUPPRESS UPDATE_FRAMEWORK".split()
    ),
    "Capability.Type": frozenset(
        "UNKNOWN REVOCABLE_RESOURCES TASK_KILLING_STATE GPU_RESOURCES SHARED_RESOURCES"
        " PARTITION_AWARE MULTI_ROLE RESERVATION_REFINEMENT REGION_AWARE".split()
    ),
    "Operation.Type": frozenset(
        "UNKNOWN LAUNCH LAUNCH_GROUP RESERVE UNRESERVE CREATE DESTROY GROW_VOLUME"
        " SHRINK_VOLUME CREATE_DISK DESTROY_DISK".split()
    ),
    "ExecutorInfo.Type": frozenset({"UNKNOWN", "DEFAULT", "CUSTOM"}),
    "Value.Type": frozenset({"SCALAR", "RANGES", "SET", "TEXT"}),
    "Variable.Type": frozenset({"UNKNOWN", "VALUE", "SECRET"}),
    "ContainerInfo.Type": frozenset({"DOCKER", "MESOS"}),
    "DockerInfo.Network": frozenset({"HOST", "BRIDGE", "NONE", "USER"}),
    "Volume.Mode": frozenset({"RW", "RO"}),
    "Volume.Source.Type": frozenset(
        {"UNKNOWN", "DOCKER_VOLUME", "HOST_PATH", "SANDBOX_PATH", "SECRET", "CSI_VOLUME"}
    ),
}

# Every *ID message of mesos.proto (FrameworkID, OfferID, AgentID, TaskID, ExecutorID,
# OperationID, ResourceProviderID) is `required string value = 1`: one entry, "ID".
_MESSAGES: dict[str, str] = {
    "Call": (
        "framework_id:ID type:Call.Type subscribe:Subscribe accept:Accept decline:Decline"
        " accept_inverse_offers:InverseOffers decline_inverse_offers:InverseOffers"
        " revive:Roles kill:Kill shutdown:Shutdown acknowledge:Acknowledge"
        " acknowledge_operation_status:AcknowledgeOperationStatus reconcile:Reconcile"
        " reconcile_operations:ReconcileOperations message:Message request:Request"
        " suppress:Roles update_framework:Subscribe"
    ),
    "ID": "!value:string",
    # Call.Subscribe and Call.UpdateFramework have the same fields.
    "Subscribe": "!framework_info:FrameworkInfo *suppressed_roles:string offer_constraints:any",
    "FrameworkInfo": (
        "!user:string !name:string id:ID failover_timeout:double checkpoint:bool role:string"
        " *roles:string hostname:string principal:string webui_url:string"
        " *capabilities:Capability labels:any offer_filters:any"
    ),
    "Capability": "type:Capability.Type",
    "Accept": "*offer_ids:ID *operations:Operation filters:Filters",
    "Decline": "*offer_ids:ID filters:Filters",
    "InverseOffers": "*inverse_offer_ids:ID filters:Filters",
    "Filters": "refuse_seconds:double",
    # Call.Revive and Call.Suppress.
    "Roles": "*roles:string",
    "Kill": "!task_id:ID agent_id:ID kill_policy:KillPolicy",
    "Shutdown": "!executor_id:ID !agent_id:ID",
    "Acknowledge": "!agent_id:ID !task_id:ID !uuid:bytes",
    "AcknowledgeOperationStatus": (
        "agent_id:ID resource_provider_id:ID !uuid:bytes !operation_id:ID"
    ),
    "Reconcile": "*tasks:ReconcileTask",
    "ReconcileTask": "!task_id:ID agent_id:ID",
    "ReconcileOperations": "*operations:ReconcileOperation",
    "ReconcileOperation": "!operation_id:ID agent_id:ID resource_provider_id:ID",
    "Message": "!agent_id:ID !executor_id:ID !data:bytes",
    "Request": "*requests:ResourceRequest",
    "ResourceRequest": "agent_id:ID *resources:Resource",
    "Operation": (
        "type:Operation.Type id:ID launch:Launch launch_group:any reserve:any unreserve:any"
        " create:any destroy:any grow_volume:any shrink_volume:any create_disk:any"
        " destroy_disk:any"
    ),
    "Launch": "*task_infos:TaskInfo",
    "TaskInfo": (
        "!name:string !task_id:ID !agent_id:ID *resources:Resource executor:ExecutorInfo"
        " command:CommandInfo container:ContainerInfo health_check:any check:any"
        " kill_policy:KillPolicy data:bytes labels:any discovery:any"
        " max_completion_time:Duration limits:any"
    ),
    "ExecutorInfo": (
        "type:ExecutorInfo.Type !executor_id:ID framework_id:ID command:CommandInfo"
        " container:ContainerInfo *resources:Resource name:string source:string data:bytes"
        " discovery:any shutdown_grace_period:Duration labels:any"
    ),
    "Resource": (
        "provider_id:ID !name:string !type:Value.Type scalar:Scalar ranges:Ranges set:Set"
        " role:string allocation_info:AllocationInfo reservation:any *reservations:any"
        " disk:any revocable:any shared:any"
    ),
    "Scalar": "!value:double",
    "Ranges": "*range:Range",
    "Range": "!begin:uint64 !end:uint64",
    "Set": "*item:string",
    "AllocationInfo": "role:string",
    "KillPolicy": "grace_period:Duration",
    "Duration": "!nanoseconds:int64",
    "CommandInfo": (
        "*uris:any environment:Environment shell:bool value:string *arguments:string user:string"
    ),
    "Environment": "*variables:Variable",
    "Variable": "!name:string type:Variable.Type value:string secret:any",
    "ContainerInfo": (
        "!type:ContainerInfo.Type *volumes:Volume hostname:string docker:DockerInfo mesos:any"
        " *network_infos:any linux_info:any rlimit_info:any tty_info:any"
    ),
    "DockerInfo": (
        "!image:string network:DockerInfo.Network *port_mappings:PortMapping privileged:bool"
        " *parameters:any force_pull_image:bool volume_driver:string"
    ),
    "PortMapping": "!host_port:uint32 !container_port:uint32 protocol:string",
    "Volume": (
        "!mode:Volume.Mode !container_path:string host_path:string image:any source:VolumeSource"
    ),
    "VolumeSource": (
        "type:Volume.Source.Type docker_volume:any host_path:any sandbox_path:any secret:any"
        " csi_volume:any"
    ),
}


def _kind(type_name: str) -> str:
    if type_name in SCALARS:
        return "scalar"
    if type_name in ENUMS:
        return "enum"
    return "message" if type_name in _MESSAGES else ANY


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # a scalar, an enum name, a message name, or ANY
    required: bool = False
    repeated: bool = False
    # 'scalar', 'enum', 'message' or 'any': kept, not derived per use (json_call's hot path)
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", _kind(self.type))


def _fields(spec: str) -> dict[str, Field]:
    fields: dict[str, Field] = {}
    for token in spec.split():
        marks = token[: len(token) - len(token.lstrip("!*"))]
        name, _, kind = token[len(marks) :].partition(":")
        fields[name] = Field(name, kind, required="!" in marks, repeated="*" in marks)
    return fields


MESSAGES: dict[str, dict[str, Field]] = {name: _fields(spec) for name, spec in _MESSAGES.items()}


def _check() -> None:
    for message, fields in MESSAGES.items():
        for field in fields.values():
            known = field.type in SCALARS or field.type in ENUMS or field.type in MESSAGES
            assert known or field.type == ANY, f"{message}.{field.name}: unknown {field.type}"


_check()
