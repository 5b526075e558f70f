"""POST /articles (one or a batch) and GET /articles/{id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status

from core.errors import InvalidInput
from core.records import ID_PATTERN, Accepted, AcceptedBatch, ArticleIn, ArticleOut
from service.auth import ReadAccess, WriteAccess
from service.deps import SettingsDep, StoreDep

router = APIRouter(tags=["articles"])


@router.post(
    "/articles",
    dependencies=[WriteAccess],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted | AcceptedBatch,
    responses={
        200: {"description": "Already stored: the existing article", "model": Accepted},
        401: {"description": "API keys are configured and this request has none that is valid"},
        413: {"description": "Body over the size limit"},
        422: {"description": "Invalid article (problem+json names the field)"},
    },
)
def post_articles(
    body: Annotated[ArticleIn | list[ArticleIn], Body()],
    store: StoreDep,
    settings: SettingsDep,
    response: Response,
) -> Accepted | AcceptedBatch:
    """Queue an article, or a list of them, for clustering and summarising.

    Idempotent: the same `id`, else the same canonical `url`, else the same `source` + `text`
    returns the article already stored (200, `existing: true`) and changes nothing."""
    if isinstance(body, list):
        if not body:
            raise InvalidInput(
                "an empty list posts nothing; send at least one article", field="body"
            )
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


@router.get("/articles/{article_id}", response_model=ArticleOut, dependencies=[ReadAccess])
def get_article(
    article_id: Annotated[str, Path(pattern=ID_PATTERN)], store: StoreDep
) -> ArticleOut:
    """An article's processing status and, once clustered, its story."""
    return store.article(article_id)
