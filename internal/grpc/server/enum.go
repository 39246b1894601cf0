package server

import (
	"strconv"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/model"
)

// enum pairs the values of a proto enum with the names the logic uses for
// them; the unset value is "", which lets the logic apply its default.
type enum[E ~int32] struct {
	names map[E]string
	// other is the value of a name the proto does not know.
	other E
}

// name is the logic's name of e; an unknown number is its decimal form,
// which the logic refuses naming the field.
func (m enum[E]) name(e E) string {
	if n, ok := m.names[e]; ok {
		return n
	}
	return strconv.Itoa(int(e))
}

// known is the logic's name of e, false for a number the proto does not know.
func (m enum[E]) known(e E) (string, bool) {
	n, ok := m.names[e]
	return n, ok
}

// value is the proto value of a logic name.
func (m enum[E]) value(name string) E {
	for e, n := range m.names {
		if n == name && n != "" {
			return e
		}
	}
	return m.other
}

var (
	channels = enum[openv1.Channel]{names: map[openv1.Channel]string{
		openv1.Channel_CHANNEL_UNSPECIFIED: "",
		openv1.Channel_CHANNEL_CALL:        model.ChannelCall,
		openv1.Channel_CHANNEL_MEETING:     model.ChannelMeeting,
	}}
	directions = enum[openv1.Direction]{names: map[openv1.Direction]string{
		openv1.Direction_DIRECTION_UNSPECIFIED: "",
		openv1.Direction_DIRECTION_INBOUND:     model.DirectionInbound,
		openv1.Direction_DIRECTION_OUTBOUND:    model.DirectionOutbound,
		openv1.Direction_DIRECTION_UNKNOWN:     model.DirectionUnknown,
	}, other: openv1.Direction_DIRECTION_UNKNOWN}
	affiliations = enum[openv1.Affiliation]{names: map[openv1.Affiliation]string{
		openv1.Affiliation_AFFILIATION_UNSPECIFIED: "",
		openv1.Affiliation_AFFILIATION_INTERNAL:    model.AffiliationInternal,
		openv1.Affiliation_AFFILIATION_EXTERNAL:    model.AffiliationExternal,
		openv1.Affiliation_AFFILIATION_UNKNOWN:     model.AffiliationUnknown,
	}, other: openv1.Affiliation_AFFILIATION_UNKNOWN}
	statuses = enum[openv1.ConversationStatus]{names: map[openv1.ConversationStatus]string{
		openv1.ConversationStatus_CONVERSATION_STATUS_PENDING: model.StatusPending,
		openv1.ConversationStatus_CONVERSATION_STATUS_READY:   model.StatusReady,
		openv1.ConversationStatus_CONVERSATION_STATUS_FAILED:  model.StatusFailed,
	}}
	trackerAffiliations = enum[openv1.TrackerAffiliation]{names: map[openv1.TrackerAffiliation]string{
		openv1.TrackerAffiliation_TRACKER_AFFILIATION_INTERNAL: model.AffiliationInternal,
		openv1.TrackerAffiliation_TRACKER_AFFILIATION_EXTERNAL: model.AffiliationExternal,
	}, other: openv1.TrackerAffiliation_TRACKER_AFFILIATION_ANYONE}
	roles = enum[openv1.Role]{names: map[openv1.Role]string{
		openv1.Role_ROLE_UNSPECIFIED: "",
		openv1.Role_ROLE_REP:         model.RoleRep,
		openv1.Role_ROLE_MANAGER:     model.RoleManager,
		openv1.Role_ROLE_ADMIN:       model.RoleAdmin,
	}}
	userStatuses = enum[openv1.UserStatus]{names: map[openv1.UserStatus]string{
		openv1.UserStatus_USER_STATUS_UNSPECIFIED: "",
		openv1.UserStatus_USER_STATUS_ACTIVE:      model.UserActive,
		openv1.UserStatus_USER_STATUS_DISABLED:    model.UserDisabled,
	}}
)
