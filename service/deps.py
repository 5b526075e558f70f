"""Typed dependencies for route handlers (as in full-stack-fastapi-template)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.config import Settings
from core.queue import Queue
from core.storage.articles import Store
from core.storage.stories import Stories


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _stories(request: Request) -> Stories:
    stories: Stories = request.app.state.stories
    return stories


def _queue(request: Request) -> Queue:
    queue: Queue = request.app.state.queue
    return queue


SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
StoriesDep = Annotated[Stories, Depends(_stories)]
QueueDep = Annotated[Queue, Depends(_queue)]
