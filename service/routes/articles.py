"""POST /articles (one or a batch) and GET /articles/{id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status
from pydantic import Field

from core.errors import InvalidInput
from core.records import ID_PATTERN, Accepted, AcceptedBatch, ArticleIn, ArticleOut
from service.auth import ReadAccess, WriteAccess
from service.deps import SettingsDep, StoreDep
from service.openapi import bound_by_setting, problem_responses

router = APIRouter(tags=["articles"])

# A batch: one to STORYFOLD_MAX_BATCH_ARTICLES articles (the schema's maxItems is that setting).
Batch = Annotated[
    list[ArticleIn],
    Field(min_length=1, json_schema_extra=bound_by_setting(maxItems="max_batch_articles")),
]


@router.post(
    "/articles",
    dependencies=[WriteAccess],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted | AcceptedBatch,
    responses={200: {"description": "Already stored: the existing article", "model": Accepted}},
)
def post_articles(
    body: Annotated[ArticleIn | Batch, Body()],
    store: StoreDep,
    settings: SettingsDep,
    response: Response,
) -> Accepted | AcceptedBatch:
    """Queue an article, or a list of them, for clustering and summarising.

    Idempotent: the same `id`, else the same canonical `url`, else the same `source` + `text`
    returns the article already stored (200, `existing: true`) and changes nothing."""
    if isinstance(body, list):
        if len(body) > settings.max_batch_articles:
            raise InvalidInput(
                f"a batch holds at most {settings.max_batch_articles} articles, got {len(body)}",
                field="body",
            )
        results = store.add_articles(body)
        existing = sum(r.existing for r in results)
        return AcceptedBatch(articles=results, accepted=len(results) - existing, existing=existing)
    result = store.add_article(body)
    if result.existing:
        response.status_code = status.HTTP_200_OK
    return result


@router.get(
    "/articles/{article_id}",
    response_model=ArticleOut,
    dependencies=[ReadAccess],
    responses=problem_responses(404, e404="No article has this id"),
)
def get_article(
    article_id: Annotated[str, Path(pattern=ID_PATTERN)], store: StoreDep
) -> ArticleOut:
    """An article's processing status and, once clustered, its story."""
    return store.article(article_id)
