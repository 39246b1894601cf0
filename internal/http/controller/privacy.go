package controller

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/privacy"
)

// Operations of personal-data governance, which only the apps offer.
const (
	OperationPrivacyLookup  = "/mgv.web.v1.PrivacyService/Lookup"
	OperationStartErasure   = "/mgv.web.v1.PrivacyService/StartErasure"
	OperationGetErasure     = "/mgv.web.v1.PrivacyService/GetErasure"
	OperationConfirmErasure = "/mgv.web.v1.PrivacyService/ConfirmErasure"
)

// Privacy serves personal-data lookups and erasures (admins).
type Privacy struct {
	Privacy *privacy.Service
}

// SubjectJSON names a person: exactly one field.
type SubjectJSON struct {
	Email        string `json:"email"`
	Phone        string `json:"phone"`
	OriginUserID string `json:"origin_user_id"`
	Name         string `json:"name"`
}

// PersonUserJSON is the user record of a person.
type PersonUserJSON struct {
	ID           int64   `json:"id"`
	Name         string  `json:"name"`
	Email        *string `json:"email"`
	Phone        *string `json:"phone"`
	OriginUserID *string `json:"origin_user_id"`
	Role         string  `json:"role"`
	Status       string  `json:"status"`
}

// HoldingsJSON is the body of a lookup.
type HoldingsJSON struct {
	User                  *PersonUserJSON `json:"user"`
	Conversations         int64           `json:"conversations"`
	ExternalConversations int64           `json:"external_conversations"`
	ConversationIDs       []int64         `json:"conversation_ids"`
	CommentsAuthored      int64           `json:"comments_authored"`
	SentencesSpoken       int64           `json:"sentences_spoken"`
}

// ErasureJSON is an erasure job.
type ErasureJSON struct {
	ID                   int64      `json:"id"`
	Status               string     `json:"status"`
	SubjectKind          string     `json:"subject_kind"`
	InternalUser         bool       `json:"internal_user"`
	ConversationsTotal   int64      `json:"conversations_total"`
	ConversationsDeleted int64      `json:"conversations_deleted"`
	UsersAnonymised      int64      `json:"users_anonymised"`
	LastError            string     `json:"last_error"`
	CreatedAt            time.Time  `json:"created_at"`
	UpdatedAt            time.Time  `json:"updated_at"`
	FinishedAt           *time.Time `json:"finished_at"`
	ConversationsUpTo    *int64     `json:"conversations_up_to"`
	// ConversationsRedacted and DealsRedacted count what the job rewrote
	// where free text wrote the person's email or phone.
	ConversationsRedacted int64 `json:"conversations_redacted"`
	DealsRedacted         int64 `json:"deals_redacted"`
}

// Routes adds the routes.
func (h Privacy) Routes(r Router) {
	r.Handle(http.MethodPost, "/api/v1/privacy/lookups", OperationPrivacyLookup, h.Lookup)
	r.Handle(http.MethodPost, "/api/v1/privacy/erasures", OperationStartErasure, h.Start)
	r.Handle(http.MethodGet, "/api/v1/privacy/erasures/:id", OperationGetErasure, h.Get)
	r.Handle(http.MethodPost, "/api/v1/privacy/erasures/:id/confirm", OperationConfirmErasure, h.Confirm)
}

// Lookup is POST /privacy/lookups: what holds a person.
func (h Privacy) Lookup(c echo.Context) error {
	var body SubjectJSON
	if err := bind(c, &body); err != nil {
		return err
	}
	out, err := h.Privacy.Lookup(c.Request().Context(), privacy.Subject(body))
	if err != nil {
		return err
	}
	res := HoldingsJSON{Conversations: out.Conversations, ExternalConversations: out.ExternalConversations,
		ConversationIDs: out.ConversationIDs, CommentsAuthored: out.CommentsAuthored, SentencesSpoken: out.SentencesSpoken}
	if out.User != nil {
		u := PersonUserJSON(*out.User)
		res.User = &u
	}
	return render.OK(c, res)
}

// Start is POST /privacy/erasures: 202 with the job.
func (h Privacy) Start(c echo.Context) error {
	var body SubjectJSON
	if err := bind(c, &body); err != nil {
		return err
	}
	e, err := h.Privacy.StartErasure(c.Request().Context(), privacy.Subject(body))
	if err != nil {
		return err
	}
	return render.JSON(c, http.StatusAccepted, ErasureJSON(e))
}

// Get is GET /privacy/erasures/{id}.
func (h Privacy) Get(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	e, err := h.Privacy.GetErasure(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return render.OK(c, ErasureJSON(e))
}

// Confirm is POST /privacy/erasures/{id}/confirm: {count}.
func (h Privacy) Confirm(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var body struct {
		Count int64 `json:"count"`
	}
	if err := bind(c, &body); err != nil {
		return err
	}
	e, err := h.Privacy.ConfirmErasure(c.Request().Context(), id, body.Count)
	if err != nil {
		return err
	}
	return render.OK(c, ErasureJSON(e))
}
