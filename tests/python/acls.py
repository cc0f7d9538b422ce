"""ACLs through confluent-kafka's AdminClient: create, describe with Kafka's filters, delete.
Usage: acls.py BOOTSTRAP create        (as a super user: topics and ACLs)
       acls.py BOOTSTRAP after-restart (as User:ANONYMOUS with ALTER on the cluster)"""
import sys

from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)

bootstrap, phase = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})
ANON = "User:ANONYMOUS"
T, G, C = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.BROKER
LIT, PRE = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
Op = AclOperation

BINDINGS = [
    AclBinding(T, "allowed", LIT, "User:*", "*", Op.WRITE, ALLOW),
    AclBinding(T, "allowed", LIT, "User:*", "*", Op.READ, ALLOW),
    AclBinding(T, "pfx-", PRE, ANON, "*", Op.ALL, ALLOW),
    AclBinding(T, "pfx-secret", LIT, ANON, "*", Op.READ, DENY),
    AclBinding(T, "*", LIT, "User:bob", "*", Op.READ, ALLOW),
    AclBinding(G, "*", LIT, ANON, "*", Op.READ, ALLOW),
    AclBinding(G, "blocked", LIT, ANON, "*", Op.READ, DENY),
    AclBinding(C, "kafka-cluster", LIT, ANON, "*", Op.ALTER, ALLOW),
    AclBinding(C, "kafka-cluster", LIT, ANON, "*", Op.DESCRIBE, ALLOW),
]


def describe(restype=ResourceType.ANY, name=None, pattern=ResourcePatternType.ANY,
             principal=None, operation=Op.ANY, permission=AclPermissionType.ANY):
    found = admin.describe_acls(AclBindingFilter(
        restype, name, pattern, principal, None, operation, permission)).result()
    return sorted(found, key=str)


if phase == "create":
    for future in admin.create_topics(
            [NewTopic(t, 1, 1) for t in ["allowed", "denied", "pfx-a", "pfx-secret"]]).values():
        future.result()
    for future in admin.create_acls(BINDINGS).values():
        assert future.result() is None
    # Creating a binding twice keeps one copy.
    for future in admin.create_acls(BINDINGS[:1]).values():
        future.result()
    assert describe() == sorted(BINDINGS, key=str), describe()
    # MATCH: the literal name, the `*` wildcard and every prefix that matches.
    matched = describe(T, "pfx-secret", ResourcePatternType.MATCH)
    assert [(b.name, b.resource_pattern_type) for b in matched] == [
        ("*", LIT), ("pfx-", PRE), ("pfx-secret", LIT)], matched
    # ANY with a name: exactly that name, any pattern type.
    assert [b.name for b in describe(T, "pfx-", ResourcePatternType.ANY)] == ["pfx-"]
    assert describe(T, "pfx-secret", PRE) == []
    assert len(describe(permission=DENY)) == 2
    assert len(describe(principal="User:bob")) == 1
    assert len(describe(G, operation=Op.READ)) == 2
    print("python acls created")
elif phase == "after-restart":
    # The ACLs survived the restart.
    assert describe() == sorted(BINDINGS, key=str), describe()
    deleted = admin.delete_acls([AclBindingFilter(
        T, None, ResourcePatternType.ANY, "User:bob", None, Op.ANY,
        AclPermissionType.ANY)]).values()
    (result,) = [f.result() for f in deleted]
    assert [b.principal for b in result] == ["User:bob"], result
    assert len(describe()) == len(BINDINGS) - 1
    print("python acls ok")
